//! Shared plumbing for moodflow's one-string-argument scalar UDFs.
//!
//! Every moodflow UDF takes one text argument of any Arrow string type and
//! maps each value independently, null in, null out. This module does the
//! part that is the same for all of them: argument checking, accepting
//! `Utf8`/`LargeUtf8`/`Utf8View`, and scalar vs array inputs, so each UDF only
//! says how it turns a `StringArray` into its output array.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::types::logical_string;
use datafusion::common::utils::take_function_args;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, Signature, TypeSignatureClass, Volatility,
};

/// The signature of a deterministic function of one string argument.
pub fn one_string_signature() -> Signature {
    Signature::coercible(
        vec![Coercion::new_exact(TypeSignatureClass::Native(logical_string()))],
        Volatility::Immutable,
    )
}

/// Applies `kernel` to the single string argument of `args`.
///
/// A scalar argument is evaluated once and returned as a scalar, so a
/// literal does not become an array of `number_rows` copies.
pub fn map_strings(
    name: &str,
    args: &ScalarFunctionArgs,
    kernel: impl Fn(&StringArray) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let [arg] = take_function_args(name, &args.args)?;
    match arg {
        ColumnarValue::Array(array) => Ok(ColumnarValue::Array(kernel(&as_utf8(array)?)?)),
        ColumnarValue::Scalar(scalar) => {
            let array = as_utf8(&scalar.to_array()?)?;
            let out = kernel(&array)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        }
    }
}

/// Views any string array as `Utf8`, casting `LargeUtf8`/`Utf8View`/null.
fn as_utf8(array: &ArrayRef) -> Result<StringArray> {
    let array: ArrayRef = if array.data_type() == &DataType::Utf8 {
        Arc::clone(array)
    } else {
        cast(array.as_ref(), &DataType::Utf8)?
    };
    Ok(as_string_array(&array)?.clone())
}

/// `f` of every value of `texts` (`None` for null), computed once per
/// distinct value of the batch: the texts a film is scored on repeat a lot
/// (a tag, a genome tag, a keyword or a genre list is the same string for
/// every film that has it: 820,416 evidence rows hold 17,528 distinct
/// texts at 10M generated ratings), and scoring one costs far more than
/// looking it up.
pub fn map_distinct<T: Copy>(texts: &StringArray, f: impl Fn(&str) -> T) -> Vec<Option<T>> {
    let mut seen: std::collections::HashMap<&str, T> = std::collections::HashMap::new();
    texts
        .iter()
        .map(|t| t.map(|t| *seen.entry(t).or_insert_with(|| f(t))))
        .collect()
}

/// Builds a string array from a per-value transformation.
pub fn map_to_strings(input: &StringArray, f: impl Fn(&str) -> Option<String>) -> ArrayRef {
    Arc::new(input.iter().map(|v| v.and_then(&f)).collect::<StringArray>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn map_distinct_scores_each_distinct_text_once_in_row_order() {
        let texts = StringArray::from(vec![
            Some("dark"),
            None,
            Some("funny"),
            Some("dark"),
            Some(""),
            Some("funny"),
        ]);
        let calls = Cell::new(0);
        let out = map_distinct(&texts, |t| {
            calls.set(calls.get() + 1);
            t.len()
        });
        assert_eq!(out, vec![Some(4), None, Some(5), Some(4), Some(0), Some(5)]);
        assert_eq!(calls.get(), 3, "dark, funny and the empty text, once each");
    }
}
