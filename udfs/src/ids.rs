//! `namespaced_id(prefix, id)`: an integer id under a source's prefix as
//! one text key (`namespaced_id('ml:', 12)` is `'ml:12'`), the user ids of
//! the unified ratings (stage 09).
//!
//! The same text as `concat(prefix, CAST(id AS VARCHAR))`, written once
//! per row: that expression formats every id into a string column and then
//! copies it again behind the prefix (measured on 10M generated ratings,
//! stage 09's MovieLens copy: 1.09 s with the two, 0.87 s with the cast
//! alone, see README "Benchmarks"). Null in, null out, as moodflow's other
//! UDFs (`concat` would give the bare prefix for a null id).

use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::utils::take_function_args;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `id` under `prefix`: `ml:12`.
pub fn namespaced_id(prefix: &str, id: i64) -> String {
    let mut digits = itoa::Buffer::new();
    let mut out = String::with_capacity(prefix.len() + 20);
    out.push_str(prefix);
    out.push_str(digits.format(id));
    out
}

/// The SQL function; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NamespacedId {
    signature: Signature,
}

impl Default for NamespacedId {
    fn default() -> Self {
        Self {
            // DataFusion casts other integer and string types to these.
            signature: Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for NamespacedId {
    fn name(&self) -> &str {
        "namespaced_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [prefix, ids] = take_function_args(self.name(), &args.args)?;
        match (prefix, ids) {
            // Both constant: one value, not a column of copies.
            (ColumnarValue::Scalar(p), ColumnarValue::Scalar(id)) => {
                let (ScalarValue::Utf8(p), ScalarValue::Int64(id)) = (p, id) else {
                    return exec_err!("namespaced_id: expected (text, bigint), got ({p:?}, {id:?})");
                };
                let text = p.as_deref().zip(*id).map(|(p, id)| namespaced_id(p, id));
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text)))
            }
            (ColumnarValue::Scalar(ScalarValue::Utf8(p)), ColumnarValue::Array(ids)) => {
                let Some(ids) = ids.as_primitive_opt::<Int64Type>() else {
                    return exec_err!("namespaced_id: expected bigint ids, got {}", ids.data_type());
                };
                let Some(p) = p else {
                    return null_strings(ids.len());
                };
                Ok(ColumnarValue::Array(column(ids.len(), p.len(), |i| {
                    (!ids.is_null(i)).then(|| (p.as_str(), ids.value(i)))
                })))
            }
            (p, ids) => {
                // A prefix per row (a column of prefixes): the general case.
                let n = args.number_rows;
                let (prefixes, ids) = (p.to_array(n)?, ids.to_array(n)?);
                let (Some(prefixes), Some(ids)) =
                    (prefixes.as_string_opt::<i32>(), ids.as_primitive_opt::<Int64Type>())
                else {
                    return exec_err!("namespaced_id: expected (text, bigint) columns");
                };
                Ok(ColumnarValue::Array(column(n, 3, |i| {
                    (!prefixes.is_null(i) && !ids.is_null(i)).then(|| (prefixes.value(i), ids.value(i)))
                })))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DocSection {
                    include: true,
                    label: "moodflow ids",
                    description: Some("Ids of the unified ratings"),
                },
                "An integer id under a source's prefix, as one text key; null if either is null.",
                "namespaced_id('ml:', 12)",
            )
            .with_argument("prefix", "The source's prefix, such as 'ml:'.")
            .with_argument("id", "The id within the source.")
            .build()
        }))
    }
}

/// `n` rows of `row(i)`'s prefix and id written straight into the column
/// (`None`: null), about `prefix_len` + 8 bytes each.
fn column<'a>(n: usize, prefix_len: usize, row: impl Fn(usize) -> Option<(&'a str, i64)>) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(n, n * (prefix_len + 8));
    let mut digits = itoa::Buffer::new();
    for i in 0..n {
        match row(i) {
            Some((prefix, id)) => {
                // `write_str` adds to the row being built, `append_value`
                // closes it: no string per row. (Writing into a builder
                // cannot fail; `fmt::Write` only says it could.)
                let _ = out.write_str(prefix);
                out.append_value(digits.format(id));
            }
            None => out.append_null(),
        }
    }
    Arc::new(out.finish())
}

/// A column of `n` nulls.
fn null_strings(n: usize) -> Result<ColumnarValue> {
    Ok(ColumnarValue::Array(datafusion::arrow::array::new_null_array(
        &DataType::Utf8,
        n,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::new_from_impl(NamespacedId::default()));
        ctx
    }

    /// Rows of a one-text-column result, nulls as `None`.
    async fn texts(ctx: &SessionContext, sql: &str) -> Vec<Option<String>> {
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let mut out = Vec::new();
        for b in batches {
            let c = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8).expect("text");
            out.extend(c.as_string::<i32>().iter().map(|s| s.map(str::to_string)));
        }
        out
    }

    #[tokio::test]
    async fn the_same_text_as_concat_of_the_cast_and_null_for_a_null_id() {
        let ctx = ctx();
        let ids = "(VALUES (CAST(12 AS BIGINT)), (0), (-7), (1488844), (9223372036854775807), \
                   (-9223372036854775808), (NULL)) AS t(id)";
        let ours = texts(&ctx, &format!("SELECT namespaced_id('ml:', id) FROM {ids}")).await;
        // DataFusion's own formatting is the reference; it gives 'ml:' for a
        // null id where the UDF gives null.
        let reference = texts(
            &ctx,
            &format!("SELECT CASE WHEN id IS NOT NULL THEN concat('ml:', CAST(id AS VARCHAR)) END FROM {ids}"),
        )
        .await;
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, reference);
        assert_eq!(ours[0].as_deref(), Some("ml:12"));
        assert_eq!(ours[6], None);
    }

    #[tokio::test]
    async fn constants_columns_of_prefixes_and_narrower_integers() {
        let ctx = ctx();
        assert_eq!(
            texts(&ctx, "SELECT namespaced_id('nf:', 1488844)").await,
            vec![Some("nf:1488844".to_string())]
        );
        assert_eq!(texts(&ctx, "SELECT namespaced_id(NULL, 3)").await, vec![None]);
        let rows = "(VALUES ('ml:', CAST(1 AS INT)), ('nf:', 2), (NULL, 3), ('x', NULL)) AS t(p, id)";
        assert_eq!(
            texts(&ctx, &format!("SELECT namespaced_id(p, id) FROM {rows}")).await,
            vec![Some("ml:1".into()), Some("nf:2".into()), None, None]
        );
        assert_eq!(
            texts(&ctx, &format!("SELECT namespaced_id(NULL, id) FROM {rows}")).await,
            vec![None, None, None, None]
        );
        assert_eq!(namespaced_id("ml:", -3), "ml:-3");
    }

    #[test]
    fn ids_of_another_type_are_an_error_not_a_panic() {
        use datafusion::arrow::array::Float64Array;
        use datafusion::arrow::datatypes::Field;
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("ml:".into()))),
                ColumnarValue::Array(Arc::new(Float64Array::from(vec![1.5]))),
            ],
            arg_fields: vec![
                Arc::new(Field::new("p", DataType::Utf8, true)),
                Arc::new(Field::new("id", DataType::Float64, true)),
            ],
            number_rows: 1,
            return_field: Arc::new(Field::new("out", DataType::Utf8, true)),
            config_options: Arc::new(Default::default()),
        };
        let e = NamespacedId::default().invoke_with_args(args).expect_err("not bigint");
        assert!(e.to_string().contains("expected bigint ids, got Float64"), "{e}");
    }
}
