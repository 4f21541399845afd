//! The command line through the real binary.

mod bad_task_files;
mod init_schema;
mod operate;
mod readme;
mod submit;
mod validate;
