//! A deserializer over short-lived input that can stand in at any lifetime: whatever the
//! input would lend out (a string or bytes borrowed from it) is handed on as a copy.
//!
//! [`super::lines`] parses each line of a document from a slice of a buffer it then
//! reuses, while serde's types for the whole document expect one input lifetime. The
//! owned types read here copy what they keep anyway, so lending nothing costs nothing.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// `D` (of input lifetime `'s`) as a deserializer of any lifetime; also its sequence,
/// map and enum accesses.
pub(super) struct Lent<'s, D>(D, PhantomData<&'s ()>);

impl<D> Lent<'_, D> {
    /// Wraps `d`.
    pub(super) fn new(d: D) -> Self {
        Lent(d, PhantomData)
    }
}

macro_rules! forward_plain {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(Copying(visitor, PhantomData))
        }
    )*};
}

impl<'de, 's, D: Deserializer<'s>> Deserializer<'de> for Lent<'s, D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_unit_struct(name, Copying(visitor, PhantomData))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_newtype_struct(name, Copying(visitor, PhantomData))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, Copying(visitor, PhantomData))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_tuple_struct(name, len, Copying(visitor, PhantomData))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_struct(name, fields, Copying(visitor, PhantomData))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_enum(name, variants, Copying(visitor, PhantomData))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor of lifetime `'de` visiting input of lifetime `'s`: borrowed values are passed
/// on as transient ones.
struct Copying<'de, V>(V, PhantomData<&'de ()>);

macro_rules! forward_value {
    ($($method:ident: $ty:ty)*) => {$(
        fn $method<E: Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, 's, V: Visitor<'de>> Visitor<'s> for Copying<'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_value! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char
        visit_str: &str visit_string: String visit_bytes: &[u8] visit_byte_buf: Vec<u8>
    }

    fn visit_borrowed_str<E: Error>(self, v: &'s str) -> Result<Self::Value, E> {
        self.0.visit_str(v)
    }

    fn visit_borrowed_bytes<E: Error>(self, v: &'s [u8]) -> Result<Self::Value, E> {
        self.0.visit_bytes(v)
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'s>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Lent::new(d))
    }

    fn visit_newtype_struct<D: Deserializer<'s>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Lent::new(d))
    }

    fn visit_seq<A: SeqAccess<'s>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Lent::new(seq))
    }

    fn visit_map<A: MapAccess<'s>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Lent::new(map))
    }

    fn visit_enum<A: EnumAccess<'s>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(Lent::new(data))
    }
}

/// A seed of lifetime `'de` planted in input of lifetime `'s`.
struct Planted<'de, S>(S, PhantomData<&'de ()>);

impl<'de, 's, S: DeserializeSeed<'de>> DeserializeSeed<'s> for Planted<'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'s>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Lent::new(d))
    }
}

impl<'de, 's, A: SeqAccess<'s>> SeqAccess<'de> for Lent<'s, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next_element_seed(Planted(seed, PhantomData))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, 's, A: MapAccess<'s>> MapAccess<'de> for Lent<'s, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.0.next_key_seed(Planted(seed, PhantomData))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.next_value_seed(Planted(seed, PhantomData))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, 's, A: EnumAccess<'s>> EnumAccess<'de> for Lent<'s, A> {
    type Error = A::Error;
    type Variant = Lent<'s, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let (value, variant) = self.0.variant_seed(Planted(seed, PhantomData))?;
        Ok((value, Lent::new(variant)))
    }
}

impl<'de, 's, A: VariantAccess<'s>> VariantAccess<'de> for Lent<'s, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.0.newtype_variant_seed(Planted(seed, PhantomData))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.tuple_variant(len, Copying(visitor, PhantomData))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.struct_variant(fields, Copying(visitor, PhantomData))
    }
}
