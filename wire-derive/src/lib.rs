//! `#[derive(Decode)]` for the wire types (the `wire` crate): the browser's decoder of
//! a type, read from the same `#[serde(...)]` attributes that shape its JSON,
//! so a type is still defined once.
//!
//! Why not serde's `Deserialize` in the browser: serde's derived code is
//! generic over the deserializer and visitor, and every struct brings its own
//! field-name visitor, map visitor and error paths: 11 % of the client's
//! code. The decoders generated here are one line per field over an
//! already-parsed value (`JSON.parse`'s), sharing every helper. miniserde, the
//! well-known small alternative, reads neither `rename_all`, `default` nor
//! enums with data, all of which the wire types use.
//!
//! Supported, exactly as serde reads them: structs (named, newtype, unit);
//! enums externally tagged (unit, newtype and struct variants) or internally
//! tagged (`tag = "…"`); `rename`, `rename_all`, `default`, `default = "…"`,
//! `skip` / `skip_deserializing`. Attributes that only affect serialisation
//! or input validation are ignored; anything that changes how JSON is read
//! and is not supported (`flatten`, `deserialize_with`, …) is a compile error.
//!
//! The generated code names `::wire::decode`, where the `wire` crate defines the
//! `Decode` trait and its helpers.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{spanned::Spanned, Data, DeriveInput, Fields, LitStr};

#[proc_macro_derive(Decode, attributes(serde))]
pub fn derive_decode(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "Decode: generic types are not supported",
        ));
    }
    let attrs = ContainerAttrs::parse(&input.attrs)?;
    let name = &input.ident;
    let type_name = name.to_string();
    let body = match &input.data {
        Data::Struct(data) => {
            if attrs.tag.is_some() {
                return Err(syn::Error::new(
                    name.span(),
                    "Decode: `tag` on a struct is not supported",
                ));
            }
            decode_fields(quote!(Self), &data.fields, &type_name, &attrs)?
        }
        Data::Enum(data) => decode_enum(data, &type_name, &attrs)?,
        Data::Union(_) => {
            return Err(syn::Error::new(
                name.span(),
                "Decode: unions are not supported",
            ))
        }
    };
    Ok(quote! {
        impl ::wire::decode::Decode for #name {
            fn decode<J: ::wire::decode::Json>(
                json: &J,
            ) -> ::core::result::Result<Self, ::wire::decode::DecodeError> {
                #[allow(unused_imports)]
                use ::wire::decode as __d;
                #body
            }
        }
    })
}

/// The fields of a struct or struct variant read from `json`, as `path { … }`.
fn decode_fields(
    path: Tokens,
    fields: &Fields,
    type_name: &str,
    container: &ContainerAttrs,
) -> syn::Result<Tokens> {
    Ok(match fields {
        Fields::Named(named) => {
            let mut inits = Vec::new();
            for field in &named.named {
                let ident = field.ident.as_ref().expect("named field");
                let attrs = FieldAttrs::parse(&field.attrs)?;
                let key = match &attrs.rename {
                    Some(key) => key.clone(),
                    None => container.rename_field(&ident.to_string()),
                };
                let value = match attrs.default {
                    _ if attrs.skip => quote!(::core::default::Default::default()),
                    FieldDefault::None => quote!(__d::field(json, #key)?),
                    FieldDefault::Trait => {
                        quote!(__d::field_or(json, #key, ::core::default::Default::default)?)
                    }
                    FieldDefault::Path(func) => quote!(__d::field_or(json, #key, #func)?),
                };
                inits.push(quote!(#ident: #value));
            }
            quote! {
                __d::expect_object(json, #type_name)?;
                ::core::result::Result::Ok(#path { #(#inits),* })
            }
        }
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
            quote!(::core::result::Result::Ok(#path(__d::Decode::decode(json)?)))
        }
        Fields::Unnamed(unnamed) => {
            return Err(syn::Error::new(
                unnamed.span(),
                "Decode: tuple fields are supported only as a newtype",
            ))
        }
        Fields::Unit => quote!(::core::result::Result::Ok(#path)),
    })
}

fn decode_enum(
    data: &syn::DataEnum,
    type_name: &str,
    attrs: &ContainerAttrs,
) -> syn::Result<Tokens> {
    let mut units = Vec::new();
    let mut others = Vec::new();
    for variant in &data.variants {
        let vattrs = FieldAttrs::parse(&variant.attrs)?;
        if !matches!(vattrs.default, FieldDefault::None) || vattrs.skip {
            return Err(syn::Error::new(
                variant.span(),
                "Decode: `default` and `skip` on a variant are not supported",
            ));
        }
        let ident = &variant.ident;
        let tag = match vattrs.rename {
            Some(tag) => tag,
            None => attrs.rename_variant(&ident.to_string()),
        };
        let no_rename = ContainerAttrs::default();
        let build = decode_fields(quote!(Self::#ident), &variant.fields, type_name, &no_rename)?;
        match (&variant.fields, &attrs.tag) {
            (Fields::Unit, None) => {
                units.push(quote!(#tag => ::core::result::Result::Ok(Self::#ident)))
            }
            (_, None) => others.push(quote! {
                #tag => {
                    let json = &json;
                    (|| { #build })().map_err(|e: __d::DecodeError| e.at(#tag))
                }
            }),
            (_, Some(_)) => others.push(quote!(#tag => { #build })),
        }
    }
    Ok(match &attrs.tag {
        // Internally tagged: the tag is a field beside the variant's own fields.
        Some(tag_field) => quote! {
            let tag: ::std::string::String = __d::field(json, #tag_field)?;
            match tag.as_str() {
                #(#others,)*
                other => ::core::result::Result::Err(__d::DecodeError::unknown_variant(other, #type_name)),
            }
        },
        // Externally tagged: unit variants are strings, the others `{ "tag": value }`.
        None => {
            let strings = (!units.is_empty()).then(|| {
                quote! {
                    if let ::core::option::Option::Some(tag) = __d::Json::string(json) {
                        return match tag.as_str() {
                            #(#units,)*
                            other => ::core::result::Result::Err(__d::DecodeError::unknown_variant(other, #type_name)),
                        };
                    }
                }
            });
            let objects = if others.is_empty() {
                quote!(::core::result::Result::Err(__d::DecodeError::expected("a string", #type_name)))
            } else {
                quote! {
                    let (tag, json) = __d::single_entry(json, #type_name)?;
                    match tag.as_str() {
                        #(#others,)*
                        other => ::core::result::Result::Err(__d::DecodeError::unknown_variant(other, #type_name)),
                    }
                }
            };
            quote!(#strings #objects)
        }
    })
}

#[derive(Default)]
struct ContainerAttrs {
    rename_all: Option<Case>,
    tag: Option<String>,
}

impl ContainerAttrs {
    fn parse(attrs: &[syn::Attribute]) -> syn::Result<Self> {
        let mut out = Self::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    let lit: LitStr = meta.value()?.parse()?;
                    let case = Case::parse(&lit.value()).ok_or_else(|| {
                        syn::Error::new(lit.span(), "Decode: unknown rename_all case")
                    })?;
                    out.rename_all = Some(case);
                } else if meta.path.is_ident("tag") {
                    out.tag = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("deny_unknown_fields") {
                    // Validates input on the server; the browser reads only the server's answers.
                } else if meta.path.is_ident("rename") {
                    let _: LitStr = meta.value()?.parse()?; // the type's own name: not in the JSON
                } else {
                    return Err(
                        meta.error("Decode: this serde container attribute is not supported")
                    );
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// serde's `rename_all` on a struct renames its (snake_case) fields.
    fn rename_field(&self, name: &str) -> String {
        match self.rename_all {
            Some(case) => case.apply_to_field(name),
            None => name.to_string(),
        }
    }

    /// serde's `rename_all` on an enum renames its (PascalCase) variants.
    fn rename_variant(&self, name: &str) -> String {
        match self.rename_all {
            Some(case) => case.apply_to_variant(name),
            None => name.to_string(),
        }
    }
}

enum FieldDefault {
    None,
    Trait,
    Path(syn::ExprPath),
}

struct FieldAttrs {
    rename: Option<String>,
    default: FieldDefault,
    skip: bool,
}

impl FieldAttrs {
    fn parse(attrs: &[syn::Attribute]) -> syn::Result<Self> {
        let mut out = Self {
            rename: None,
            default: FieldDefault::None,
            skip: false,
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("rename") {
                    out.rename = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if path.is_ident("default") {
                    out.default = if meta.input.peek(syn::Token![=]) {
                        let func: LitStr = meta.value()?.parse()?;
                        FieldDefault::Path(func.parse()?)
                    } else {
                        FieldDefault::Trait
                    };
                } else if path.is_ident("skip") || path.is_ident("skip_deserializing") {
                    out.skip = true;
                } else if path.is_ident("skip_serializing_if") || path.is_ident("serialize_with") {
                    let _: LitStr = meta.value()?.parse()?;
                } else if path.is_ident("skip_serializing") {
                } else {
                    return Err(meta.error("Decode: this serde attribute is not supported"));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum Case {
    Lower,
    Upper,
    Snake,
    ScreamingSnake,
    Kebab,
    Camel,
    Pascal,
}

impl Case {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lowercase" => Case::Lower,
            "UPPERCASE" => Case::Upper,
            "snake_case" => Case::Snake,
            "SCREAMING_SNAKE_CASE" => Case::ScreamingSnake,
            "kebab-case" => Case::Kebab,
            "camelCase" => Case::Camel,
            "PascalCase" => Case::Pascal,
            _ => return None,
        })
    }

    /// A variant name, as serde's `RenameRule::apply_to_variant`.
    fn apply_to_variant(self, name: &str) -> String {
        match self {
            Case::Lower => name.to_ascii_lowercase(),
            Case::Upper => name.to_ascii_uppercase(),
            Case::Pascal => name.to_string(),
            Case::Camel => name[..1].to_ascii_lowercase() + &name[1..],
            Case::Snake | Case::ScreamingSnake | Case::Kebab => {
                let mut snake = String::new();
                for (i, ch) in name.char_indices() {
                    if ch.is_uppercase() && i > 0 {
                        snake.push('_');
                    }
                    snake.push(ch.to_ascii_lowercase());
                }
                snake_to(self, &snake)
            }
        }
    }

    /// A field name, as serde's `RenameRule::apply_to_field`.
    fn apply_to_field(self, name: &str) -> String {
        snake_to(self, name)
    }
}

/// A snake_case name in `target`'s case.
fn snake_to(target: Case, name: &str) -> String {
    match target {
        Case::Lower | Case::Snake => name.to_string(),
        Case::Upper | Case::ScreamingSnake => name.to_ascii_uppercase(),
        Case::Kebab => name.replace('_', "-"),
        Case::Camel | Case::Pascal => {
            let mut out = String::new();
            let mut upper = matches!(target, Case::Pascal);
            for ch in name.chars() {
                if ch == '_' {
                    upper = true;
                } else if upper {
                    out.push(ch.to_ascii_uppercase());
                    upper = false;
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Case;

    #[test]
    fn cases_rename_as_serde_does() {
        assert_eq!(
            Case::Snake.apply_to_variant("LatencyRegression"),
            "latency_regression"
        );
        assert_eq!(
            Case::Lower.apply_to_variant("LatencyRegression"),
            "latencyregression"
        );
        assert_eq!(Case::Camel.apply_to_variant("AgentTask"), "agentTask");
        assert_eq!(Case::Kebab.apply_to_variant("AgentTask"), "agent-task");
        assert_eq!(
            Case::ScreamingSnake.apply_to_variant("AgentTask"),
            "AGENT_TASK"
        );
        assert_eq!(Case::Camel.apply_to_field("generator_url"), "generatorUrl");
        assert_eq!(Case::Pascal.apply_to_field("generator_url"), "GeneratorUrl");
        assert_eq!(Case::Kebab.apply_to_field("run_id"), "run-id");
        assert_eq!(Case::Snake.apply_to_field("run_id"), "run_id");
    }
}
