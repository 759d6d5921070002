//! VADER as SQL scalar functions: `vader_compound(text) -> double` and
//! `vader_scores(text) -> struct<compound, pos, neu, neg>`.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::analyzer;
use crate::string_udf::{map_distinct, map_strings, one_string_signature};

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "moodflow sentiment",
    description: Some("VADER sentiment, identical to Python vaderSentiment 3.3.2"),
};

/// `vader_compound(text)`: VADER's compound score in [-1, 1], rounded to 4
/// decimals as the reference does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VaderCompound {
    signature: Signature,
}

impl Default for VaderCompound {
    fn default() -> Self {
        Self {
            signature: one_string_signature(),
        }
    }
}

impl ScalarUDFImpl for VaderCompound {
    fn name(&self) -> &str {
        "vader_compound"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_strings(self.name(), &args, |texts: &StringArray| {
            let a = analyzer();
            let out = Float64Array::from(map_distinct(texts, |t| a.polarity_scores(t).compound));
            Ok(Arc::new(out) as ArrayRef)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "VADER compound sentiment of a text, in [-1, 1]; null for null.",
                "vader_compound(text)",
            )
            .with_sql_example("SELECT vader_compound('A wonderful, heart-warming film');")
            .with_argument("text", "Text to score.")
            .with_related_udf("vader_scores")
            .build()
        }))
    }
}

/// The fields of `vader_scores`' struct, in the order the reference prints
/// its dictionary's most used value first.
pub fn vader_scores_fields() -> Fields {
    Fields::from(vec![
        Field::new("compound", DataType::Float64, false),
        Field::new("pos", DataType::Float64, false),
        Field::new("neu", DataType::Float64, false),
        Field::new("neg", DataType::Float64, false),
    ])
}

/// `vader_scores(text)`: all four VADER scores as a struct.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VaderScores {
    signature: Signature,
}

impl Default for VaderScores {
    fn default() -> Self {
        Self {
            signature: one_string_signature(),
        }
    }
}

impl ScalarUDFImpl for VaderScores {
    fn name(&self) -> &str {
        "vader_scores"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(vader_scores_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_strings(self.name(), &args, |texts: &StringArray| {
            let a = analyzer();
            let n = texts.len();
            let (mut c, mut p, mut u, mut g) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for s in map_distinct(texts, |t| a.polarity_scores(t)) {
                // Null rows carry zeros under the struct's null bit.
                c.push(s.map_or(0.0, |s| s.compound));
                p.push(s.map_or(0.0, |s| s.pos));
                u.push(s.map_or(0.0, |s| s.neu));
                g.push(s.map_or(0.0, |s| s.neg));
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from(c)),
                Arc::new(Float64Array::from(p)),
                Arc::new(Float64Array::from(u)),
                Arc::new(Float64Array::from(g)),
            ];
            let nulls = texts.nulls().cloned();
            Ok(Arc::new(StructArray::try_new(vader_scores_fields(), columns, nulls)?) as ArrayRef)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "VADER scores of a text as struct<compound, pos, neu, neg>; null for null.",
                "vader_scores(text)",
            )
            .with_sql_example("SELECT vader_scores('not bad at all')['compound'];")
            .with_argument("text", "Text to score.")
            .with_related_udf("vader_compound")
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::FieldRef;
    use datafusion::common::config::ConfigOptions;
    use datafusion::common::ScalarValue;

    fn invoke(udf: &dyn ScalarUDFImpl, arg: ColumnarValue, rows: usize) -> ColumnarValue {
        let ret = udf.return_type(&[DataType::Utf8]).expect("return type");
        let args = ScalarFunctionArgs {
            args: vec![arg],
            arg_fields: vec![FieldRef::new(Field::new("t", DataType::Utf8, true))],
            number_rows: rows,
            return_field: FieldRef::new(Field::new("r", ret, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        udf.invoke_with_args(args).expect("invoke")
    }

    #[test]
    fn compound_array_with_nulls() {
        let input = StringArray::from(vec![Some("Not bad at all"), None, Some("")]);
        let ColumnarValue::Array(out) = invoke(&VaderCompound::default(), ColumnarValue::Array(Arc::new(input)), 3)
        else {
            panic!("expected an array");
        };
        let out = out.as_any().downcast_ref::<Float64Array>().expect("f64");
        assert_eq!(out.value(0), 0.431);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), 0.0);
    }

    #[test]
    fn scores_scalar_and_null_scalar() {
        let out = invoke(
            &VaderScores::default(),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("The book was good.".into()))),
            1,
        );
        let ColumnarValue::Scalar(ScalarValue::Struct(s)) = out else {
            panic!("expected a struct scalar");
        };
        let pos = s.column(1).as_any().downcast_ref::<Float64Array>().expect("f64");
        // Reference: {'neg': 0.0, 'neu': 0.508, 'pos': 0.492, 'compound': 0.4404}
        assert_eq!(pos.value(0), 0.492);
        let out = invoke(
            &VaderScores::default(),
            ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            1,
        );
        let ColumnarValue::Scalar(ScalarValue::Struct(s)) = out else {
            panic!("expected a struct scalar");
        };
        assert!(s.is_null(0));
    }
}
