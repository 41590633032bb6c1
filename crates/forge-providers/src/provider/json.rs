//! Small JSON helpers shared by the dialects.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// A tool call's raw arguments as a JSON object for dialects that want one:
/// `""` (no arguments) becomes `{}`, and text that is not a JSON object is
/// wrapped as `{"_raw": text}` so the request stays valid.
pub(crate) fn arguments_object(arguments: &str) -> Cow<'_, RawValue> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Cow::Owned(empty_object());
    }
    if trimmed.starts_with('{')
        && let Ok(raw) = serde_json::from_str::<&RawValue>(trimmed)
    {
        return Cow::Borrowed(raw);
    }
    let wrapped = serde_json::json!({ "_raw": arguments }).to_string();
    Cow::Owned(RawValue::from_string(wrapped).unwrap_or_else(|_| empty_object()))
}

/// `{}`.
pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

/// Serializes `value` to a `RawValue`.
pub(crate) fn to_raw<T: serde::Serialize>(value: &T) -> Result<Box<RawValue>, forge_core::Error> {
    serde_json::value::to_raw_value(value).map_err(|e| {
        forge_core::Error::new(
            forge_core::ErrorKind::InvalidRequest,
            "cannot encode a tool",
        )
        .with_source(e)
    })
}

/// Whether `text` is one complete JSON value.
pub(crate) fn is_complete_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// A tool result's text as a JSON object for dialects that want one: an
/// object stays as it is; anything else is wrapped as `{"result": …}`.
pub(crate) fn result_object(content: &str) -> Cow<'_, RawValue> {
    let trimmed = content.trim();
    if trimmed.starts_with('{')
        && let Ok(raw) = serde_json::from_str::<&RawValue>(trimmed)
    {
        return Cow::Borrowed(raw);
    }
    let value = match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(v) => v,
        Err(_) => serde_json::Value::String(content.to_owned()),
    };
    let wrapped = serde_json::json!({ "result": value }).to_string();
    Cow::Owned(RawValue::from_string(wrapped).unwrap_or_else(|_| empty_object()))
}

/// Deserializes `null` (as well as a value) into `T`, `null` giving `T::default()`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize as _;
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A call's arguments from a field that holds a JSON string (the usual
/// form) or, from some gateways, an object: the text of the arguments.
pub(crate) fn arguments_text(raw: &RawValue) -> Cow<'_, str> {
    let text = raw.get();
    if text.starts_with('"')
        && let Ok(s) = serde_json::from_str::<Cow<'_, str>>(text)
    {
        return s;
    }
    if text == "null" {
        return Cow::Borrowed("");
    }
    Cow::Borrowed(text)
}
