//! The `settings!` macro: a block of keys declared once (name, type, default, reader) becomes
//! the struct, its `Default`, the list of keys it accepts and the code that reads it.

/// Declares a configuration block. Each line is one key:
///
/// ```text
/// /// doc comment (shown in rustdoc)
/// field_name [as "yaml_key"]: Type = default [=> reader],
/// ```
///
/// - `as "yaml_key"` when the key's name in falco.yaml differs from the field's.
/// - `reader` is a `fn(&mut Reader, key, &Node) -> Result<Option<Type>, InitError>`; without
///   one, `<Type as Setting>::read` is used. `Ok(None)` (an empty value) keeps the default.
/// - A block is itself a [`Setting`](super::read::Setting), so a field whose type is another
///   block reads a nested mapping.
/// - Keys several blocks share are declared once, in a `settings! { flat pub struct .. }`, and
///   embedded after a block's own keys with `flattened field: Type = default;`: their keys are
///   written in the block itself (not nested), each block with its own defaults (`http_output`
///   and `otlp_output` embed `HttpTransportConfig` this way).
macro_rules! settings {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident $(as $key:literal)? : $ty:ty = $default:expr $(=> $read:expr)?
            ),* $(,)?
        }
        $(
            $(#[$flatmeta:meta])*
            flattened $flat:ident : $flat_ty:ty = $flat_default:expr;
        )?
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $( $(#[$flatmeta])* pub $flat: $flat_ty, )?
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* $( $flat: $flat_default, )? }
            }
        }

        impl $name {
            /// The keys this block accepts, as falco.yaml spells them (the flattened ones
            /// aside).
            pub const KEYS: &'static [&'static str] = &[$( settings!(@key $field $($key)?) ),*];
        }

        impl $crate::config::read::Setting for $name {
            fn read(
                r: &mut $crate::config::read::Reader<'_>,
                key: &str,
                node: &$crate::config::yaml::Node,
            ) -> Result<Option<Self>, $crate::error::InitError> {
                let known: Vec<&str> = Self::KEYS
                    .iter()
                    $( .chain(<$flat_ty>::KEYS.iter()) )?
                    .copied()
                    .collect();
                let entries = r.block(key, node, &known)?;
                let d = Self::default();
                Ok(Some($name {
                    $(
                        $field: r
                            .field(
                                entries,
                                key,
                                settings!(@key $field $($key)?),
                                settings!(@read $ty $(, $read)?),
                            )?
                            .unwrap_or(d.$field),
                    )*
                    $( $flat: <$flat_ty>::read_in(r, entries, key, d.$flat)?, )?
                }))
            }

            #[cfg(test)]
            fn list(&self, key: &str, out: &mut Vec<$crate::config::read::Listed>) {
                out.push($crate::config::read::Listed {
                    key: key.to_string(),
                    value: format!("{self:?}"),
                    block: true,
                });
                $(
                    let sub = settings!(@key $field $($key)?);
                    let sub = if key.is_empty() { sub.to_string() } else { format!("{key}.{sub}") };
                    settings!(@list &self.$field, &sub, out $(, $read)?);
                )*
                $( self.$flat.list_in(key, out); )?
            }
        }
    };
    (
        flat
        $(#[$smeta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident $(as $key:literal)? : $ty:ty = $default:expr $(=> $read:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The keys it adds to the block that embeds it, as falco.yaml spells them.
            pub const KEYS: &'static [&'static str] = &[$( settings!(@key $field $($key)?) ),*];

            /// Reads its keys from the `entries` of the block `key` that embeds it; an absent
            /// key keeps its value in `d` (that block's default).
            pub fn read_in(
                r: &mut $crate::config::read::Reader<'_>,
                entries: &[(String, $crate::config::yaml::Node)],
                key: &str,
                d: Self,
            ) -> Result<Self, $crate::error::InitError> {
                Ok($name {
                    $(
                        $field: r
                            .field(
                                entries,
                                key,
                                settings!(@key $field $($key)?),
                                settings!(@read $ty $(, $read)?),
                            )?
                            .unwrap_or(d.$field),
                    )*
                })
            }

            /// Lists its keys as keys of the block `key` that embeds it.
            #[cfg(test)]
            pub fn list_in(&self, key: &str, out: &mut Vec<$crate::config::read::Listed>) {
                $(
                    let sub = settings!(@key $field $($key)?);
                    let sub = if key.is_empty() { sub.to_string() } else { format!("{key}.{sub}") };
                    settings!(@list &self.$field, &sub, out $(, $read)?);
                )*
            }
        }
    };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@read $ty:ty) => { <$ty as $crate::config::read::Setting>::read };
    (@read $ty:ty, $read:expr) => { $read };
    // A key read by a reader of its own is a value, never a block.
    (@list $value:expr, $key:expr, $out:ident) => {
        $crate::config::read::Setting::list($value, $key, $out)
    };
    (@list $value:expr, $key:expr, $out:ident, $read:expr) => {
        $out.push($crate::config::read::Listed {
            key: $key.to_string(),
            value: format!("{:?}", $value),
            block: false,
        })
    };
}

pub(crate) use settings;
