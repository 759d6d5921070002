//! The mood lexicon as a SQL scalar function:
//! `mood_scores(text) -> struct<valence, valence_hits, energy, energy_hits>`.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int32Array, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use super::lexicon;
use crate::string_udf::{map_distinct, map_strings, one_string_signature};

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "moodflow mood",
    description: Some("moodflow's mood lexicon: valence and energy of mood words"),
};

/// The fields of `mood_scores`' struct.
pub fn mood_scores_fields() -> Fields {
    Fields::from(vec![
        Field::new("valence", DataType::Float64, false),
        Field::new("valence_hits", DataType::Int32, false),
        Field::new("energy", DataType::Float64, false),
        Field::new("energy_hits", DataType::Int32, false),
    ])
}

/// `mood_scores(text)`: the mean valence and energy of the lexicon terms in
/// a text and how many terms carried each (0 hits: the text says nothing).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MoodScores {
    signature: Signature,
}

impl Default for MoodScores {
    fn default() -> Self {
        Self {
            signature: one_string_signature(),
        }
    }
}

impl ScalarUDFImpl for MoodScores {
    fn name(&self) -> &str {
        "mood_scores"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(mood_scores_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_strings(self.name(), &args, |texts: &StringArray| {
            let l = lexicon();
            let n = texts.len();
            let (mut v, mut vh, mut e, mut eh) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for s in map_distinct(texts, |t| l.score(t)) {
                // Null rows carry zeros under the struct's null bit.
                let s = s.unwrap_or_default();
                v.push(s.valence);
                vh.push(s.valence_hits as i32);
                e.push(s.energy);
                eh.push(s.energy_hits as i32);
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from(v)),
                Arc::new(Int32Array::from(vh)),
                Arc::new(Float64Array::from(e)),
                Arc::new(Int32Array::from(eh)),
            ];
            let nulls = texts.nulls().cloned();
            Ok(Arc::new(StructArray::try_new(mood_scores_fields(), columns, nulls)?) as ArrayRef)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "Valence (-1 dark .. 1 light) and energy (-1 calm .. 1 intense) of the mood words in a text, \
                 as struct<valence, valence_hits, energy, energy_hits>; null for null.",
                "mood_scores(text)",
            )
            .with_sql_example("SELECT mood_scores('a bleak, harrowing tearjerker')['valence'];")
            .with_argument("text", "Text to score.")
            .with_related_udf("vader_scores")
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::FieldRef;
    use datafusion::common::config::ConfigOptions;

    #[test]
    fn scores_an_array_with_nulls() {
        let udf = MoodScores::default();
        let input = StringArray::from(vec![Some("bleak and harrowing"), None, Some("uplifting feel-good")]);
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(Arc::new(input))],
            arg_fields: vec![FieldRef::new(Field::new("t", DataType::Utf8, true))],
            number_rows: 3,
            return_field: FieldRef::new(Field::new("r", DataType::Struct(mood_scores_fields()), true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let ColumnarValue::Array(out) = udf.invoke_with_args(args).expect("invoke") else {
            panic!("expected an array");
        };
        let s = out.as_any().downcast_ref::<StructArray>().expect("struct");
        let v = s.column(0).as_any().downcast_ref::<Float64Array>().expect("f64");
        let hits = s.column(1).as_any().downcast_ref::<Int32Array>().expect("i32");
        // bleak -0.8, harrowing -0.8; uplifting 0.8, feel good 0.8.
        assert_eq!((v.value(0), hits.value(0)), (-0.8, 2));
        assert!(s.is_null(1));
        assert_eq!((v.value(2), hits.value(2)), (0.8, 2));
    }
}
