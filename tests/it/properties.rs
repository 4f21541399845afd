//! Properties that must hold for any input, checked on generated values.

use phase_coordinator::model::{BackoffSpec, is_valid_task_id};
use phase_coordinator::schema::SchemaName;
use phase_coordinator::template::{Vars, expand};
use proptest::prelude::*;

proptest! {
    /// The id rule in code and the `id` pattern in the published task schema agree.
    #[test]
    fn task_id_rule_matches_the_schema(id in "[A-Za-z0-9._/ -]{0,3}|[a\n.]{1,4}|\\PC{0,8}|[a-z0-9][a-z0-9._-]{120,130}") {
        let doc = serde_json::json!({"id": id, "kind": "shell"});
        let schema_ok = SchemaName::Task.validate(&doc).is_ok();
        prop_assert_eq!(is_valid_task_id(&id), schema_ok, "id {:?}", id);
    }

    /// `{command}` passes the task's argv through untouched, whatever it holds: no shell,
    /// no splitting, no expansion.
    #[test]
    fn command_placeholder_is_the_identity(command in prop::collection::vec("\\PC{0,12}", 1..6)) {
        let vars = Vars { command: &command, ..Vars::default() };
        let argv = expand(&["{command}".to_string()], &vars).expect("expands");
        prop_assert_eq!(argv, command);
    }

    /// Back-off waits never shrink from one retry to the next and never pass `max_ms`.
    #[test]
    fn backoff_grows_and_is_capped(initial in 0u64..100_000, factor in 1.0f64..10.0, max in 0u64..1_000_000, n in 1u32..200) {
        let b = BackoffSpec { initial_ms: initial, factor, max_ms: max };
        prop_assert!(b.delay_ms(n) <= max);
        prop_assert!(b.delay_ms(n) <= b.delay_ms(n + 1));
    }
}
