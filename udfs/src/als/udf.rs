//! The recommender's SQL functions.
//!
//! - `als_solve(x, a, t, lambda, count_scaled [, gram])`: aggregate; per
//!   group, the solution of its regularised normal equations (see the
//!   module docs of [`super`]) as `struct<w: list<double>, sse: double,
//!   n: bigint>`. `lambda`, `count_scaled` and `gram` must be constants.
//!   Its partial state is the sums themselves, so Ballista can split the
//!   aggregate into partial and final stages and merge them in any order.
//! - `als_gram(x)`: aggregate; `Σ x xᵀ` as a row-major `list<double>`.
//! - `als_init(key, seed, rank, scale)`: a key's deterministic starting
//!   vector.
//! - `als_dot(a, b)`: the dot product of two `list<double>`.
//! - `split_unit(seed, user, item)`: a uniform draw in `[0, 1)` fixed by its
//!   arguments, for seeded splits that are the same on every executor.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int64Array, ListArray, ListBuilder,
    StructArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, DocSection, Documentation, EmitTo, GroupsAccumulator,
    ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::{add_row, hash_str, init_vector, mix, packed_len, solve_packed, unit, Solution};

const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "moodflow recommender",
    description: Some("Alternating least squares for the personal recommendations"),
};

fn list_f64() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// The struct `als_solve` returns.
pub fn solution_fields() -> Fields {
    Fields::from(vec![
        Field::new("w", list_f64(), true),
        Field::new("sse", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
    ])
}

/// `als_solve`: see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AlsSolve {
    signature: Signature,
}

impl Default for AlsSolve {
    fn default() -> Self {
        let base = vec![
            list_f64(),
            DataType::Float64,
            DataType::Float64,
            DataType::Float64,
            DataType::Boolean,
        ];
        let mut with_gram = base.clone();
        with_gram.push(list_f64());
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Exact(base), TypeSignature::Exact(with_gram)],
                Volatility::Immutable,
            ),
        }
    }
}

/// The constant arguments of one `als_solve` call.
#[derive(Debug, Clone)]
struct SolveConstants {
    lambda: f64,
    count_scaled: bool,
    gram: Vec<f64>,
}

fn literal(args: &AccumulatorArgs, i: usize, what: &str) -> Result<ScalarValue> {
    match args.exprs.get(i).and_then(|e| e.downcast_ref::<Literal>()) {
        Some(l) => Ok(l.value().clone()),
        None => plan_err!("als_solve: {what} (argument {}) must be a constant", i + 1),
    }
}

impl SolveConstants {
    fn from_args(args: &AccumulatorArgs) -> Result<Self> {
        let lambda = match literal(args, 3, "lambda")? {
            ScalarValue::Float64(Some(v)) if v >= 0.0 && v.is_finite() => v,
            other => return plan_err!("als_solve: lambda must be a finite double >= 0, got {other}"),
        };
        let count_scaled = match literal(args, 4, "count_scaled")? {
            ScalarValue::Boolean(Some(v)) => v,
            other => return plan_err!("als_solve: count_scaled must be true or false, got {other}"),
        };
        let gram = if args.exprs.len() > 5 {
            match literal(args, 5, "gram")? {
                ScalarValue::List(l) if l.len() == 1 && !l.is_null(0) => {
                    let v = l.value(0);
                    match v.as_primitive_opt::<Float64Type>() {
                        Some(p) if p.null_count() == 0 => p.values().to_vec(),
                        _ => return plan_err!("als_solve: gram must be a list of non-null doubles"),
                    }
                }
                ScalarValue::List(_) => Vec::new(),
                other => return plan_err!("als_solve: gram must be a list of doubles, got {other}"),
            }
        } else {
            Vec::new()
        };
        Ok(Self {
            lambda,
            count_scaled,
            gram,
        })
    }
}

impl AggregateUDFImpl for AlsSolve {
    fn name(&self) -> &str {
        "als_solve"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(solution_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SolveAccumulator(SolveGroups::new(SolveConstants::from_args(
            &args,
        )?))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(format!("{}[ata]", args.name), list_f64(), true)),
            Arc::new(Field::new(format!("{}[atb]", args.name), list_f64(), true)),
            Arc::new(Field::new(format!("{}[btb]", args.name), DataType::Float64, true)),
            Arc::new(Field::new(format!("{}[n]", args.name), DataType::UInt64, true)),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SolveGroups::new(SolveConstants::from_args(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "Solves each group's regularised least-squares problem (one ALS half-step for one user or item).",
                "als_solve(x, a, t, lambda, count_scaled[, gram])",
            )
            .with_argument("x", "The other side's vector of a row (list<double>).")
            .with_argument("a", "Weight of x xᵀ (1 for explicit ratings, α for implicit).")
            .with_argument("t", "Weight of x on the right-hand side (the target).")
            .with_argument("lambda", "Regularisation (constant).")
            .with_argument("count_scaled", "Multiply lambda by the group's row count (constant).")
            .with_argument(
                "gram",
                "A d×d matrix added to every group's system (constant, optional).",
            )
            .build()
        }))
    }
}

/// Every group's sums in flat vectors (`stride` values per group), so a
/// batch of millions of ratings never allocates per row.
#[derive(Debug)]
struct SolveGroups {
    constants: SolveConstants,
    /// Dimension, known from the first row (0 before it).
    dim: usize,
    ata: Vec<f64>,
    atb: Vec<f64>,
    btb: Vec<f64>,
    counts: Vec<u64>,
}

impl SolveGroups {
    fn new(constants: SolveConstants) -> Self {
        Self {
            constants,
            dim: 0,
            ata: Vec::new(),
            atb: Vec::new(),
            btb: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn set_dim(&mut self, dim: usize) -> Result<()> {
        if self.dim == 0 && dim > 0 {
            if !self.constants.gram.is_empty() && self.constants.gram.len() != dim * dim {
                return exec_err!(
                    "als_solve: gram has {} values, expected {dim}x{dim}",
                    self.constants.gram.len()
                );
            }
            self.dim = dim;
            let groups = self.counts.len();
            self.ata = vec![0.0; groups * packed_len(dim)];
            self.atb = vec![0.0; groups * dim];
        } else if dim != self.dim {
            return exec_err!(
                "als_solve: a vector of {dim} values in a group of dimension {}",
                self.dim
            );
        }
        Ok(())
    }

    fn resize(&mut self, groups: usize) {
        self.counts.resize(groups, 0);
        self.btb.resize(groups, 0.0);
        self.ata.resize(groups * packed_len(self.dim), 0.0);
        self.atb.resize(groups * self.dim, 0.0);
    }

    /// Takes the emitted groups' sums out, shifting the rest down.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<u64>) {
        let n = match emit_to {
            EmitTo::All => self.counts.len(),
            EmitTo::First(n) => n,
        };
        let (p, d) = (packed_len(self.dim), self.dim);
        let rest_ata = self.ata.split_off(n * p);
        let rest_atb = self.atb.split_off(n * d);
        let rest_btb = self.btb.split_off(n);
        let rest_counts = self.counts.split_off(n);
        (
            std::mem::replace(&mut self.ata, rest_ata),
            std::mem::replace(&mut self.atb, rest_atb),
            std::mem::replace(&mut self.btb, rest_btb),
            std::mem::replace(&mut self.counts, rest_counts),
        )
    }

    fn solve_group(&self, ata: &[f64], atb: &[f64], btb: f64, count: u64) -> Option<Solution> {
        if count == 0 {
            return None;
        }
        let c = &self.constants;
        solve_packed(self.dim, ata, atb, btb, count, c.lambda, c.count_scaled, &c.gram)
    }
}

fn f64s(array: &ArrayRef, what: &str) -> Result<Float64Array> {
    match array.as_primitive_opt::<Float64Type>() {
        Some(a) => Ok(a.clone()),
        None => exec_err!("als_solve: {what} is {}, expected double", array.data_type()),
    }
}

fn list_values(list: &ListArray, what: &str) -> Result<Float64Array> {
    match list.values().as_primitive_opt::<Float64Type>() {
        Some(v) => Ok(v.clone()),
        None => exec_err!("als_solve: {what} holds {}, expected double", list.values().data_type()),
    }
}

fn list_of(values: Vec<f64>, stride: usize, rows: usize, nulls: Option<Vec<bool>>) -> ListArray {
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(stride, rows));
    let nulls = nulls.map(datafusion::arrow::buffer::NullBuffer::from);
    ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(Float64Array::from(values)),
        nulls,
    )
}

impl GroupsAccumulator for SolveGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let Some(x) = values[0].as_list_opt::<i32>() else {
            return exec_err!("als_solve: x is {}, expected list<double>", values[0].data_type());
        };
        let a = f64s(&values[1], "a")?;
        let t = f64s(&values[2], "t")?;
        let flat = list_values(x, "x")?;
        let offsets = x.value_offsets();
        self.resize(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            // Nulls are skipped, as SQL aggregates do.
            if x.is_null(row) || a.is_null(row) || t.is_null(row) || opt_filter.is_some_and(|f| !f.value(row)) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if flat.null_count() > 0 && (start..end).any(|i| flat.is_null(i)) {
                return exec_err!("als_solve: a vector holds a null");
            }
            if self.dim != end - start {
                self.set_dim(end - start)?;
                self.resize(total_num_groups);
            }
            let (p, d) = (packed_len(self.dim), self.dim);
            let xv = &flat.values()[start..end];
            let (ata, atb) = (&mut self.ata[g * p..(g + 1) * p], &mut self.atb[g * d..(g + 1) * d]);
            add_row(ata, atb, &mut self.btb[g], xv, a.value(row), t.value(row));
            self.counts[g] += 1;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (ata, atb, btb, counts) = self.take(emit_to);
        let (p, d) = (packed_len(self.dim), self.dim);
        let mut w = ListBuilder::new(Float64Builder::new());
        let mut sse = Float64Builder::with_capacity(counts.len());
        let mut n = Vec::with_capacity(counts.len());
        for g in 0..counts.len() {
            match self.solve_group(&ata[g * p..(g + 1) * p], &atb[g * d..(g + 1) * d], btb[g], counts[g]) {
                Some(s) => {
                    w.append_value(s.w.iter().map(|v| Some(*v)));
                    sse.append_value(s.sse);
                }
                None => {
                    w.append_null();
                    sse.append_null();
                }
            }
            n.push(counts[g] as i64);
        }
        Ok(Arc::new(StructArray::try_new(
            solution_fields(),
            vec![
                Arc::new(w.finish()),
                Arc::new(sse.finish()),
                Arc::new(Int64Array::from(n)),
            ],
            None,
        )?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (ata, atb, btb, counts) = self.take(emit_to);
        let rows = counts.len();
        Ok(vec![
            Arc::new(list_of(ata, packed_len(self.dim), rows, None)),
            Arc::new(list_of(atb, self.dim, rows, None)),
            Arc::new(Float64Array::from(btb)),
            Arc::new(UInt64Array::from(counts)),
        ])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        let (Some(ata), Some(atb)) = (values[0].as_list_opt::<i32>(), values[1].as_list_opt::<i32>()) else {
            return exec_err!("als_solve: a partial state is not two lists");
        };
        let btb = f64s(&values[2], "the partial btb")?;
        let Some(counts) = values[3].as_primitive_opt::<UInt64Type>() else {
            return exec_err!("als_solve: a partial count is {}", values[3].data_type());
        };
        let (ata_v, atb_v) = (list_values(ata, "a partial ata")?, list_values(atb, "a partial atb")?);
        self.resize(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            if counts.is_null(row) || counts.value(row) == 0 {
                continue;
            }
            let (a0, a1) = (ata.value_offsets()[row] as usize, ata.value_offsets()[row + 1] as usize);
            let (b0, b1) = (atb.value_offsets()[row] as usize, atb.value_offsets()[row + 1] as usize);
            if self.dim != b1 - b0 {
                self.set_dim(b1 - b0)?;
                self.resize(total_num_groups);
            }
            let (p, d) = (packed_len(self.dim), self.dim);
            if a1 - a0 != p {
                return exec_err!("als_solve: a partial state of {} values, expected {p}", a1 - a0);
            }
            for (s, v) in self.ata[g * p..(g + 1) * p].iter_mut().zip(&ata_v.values()[a0..a1]) {
                *s += v;
            }
            for (s, v) in self.atb[g * d..(g + 1) * d].iter_mut().zip(&atb_v.values()[b0..b1]) {
                *s += v;
            }
            self.btb[g] += btb.value(row);
            self.counts[g] += counts.value(row);
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-row state (partial aggregation is
        // skipped when almost every row is its own group).
        let mut single = SolveGroups::new(self.constants.clone());
        let rows = values[0].len();
        let indices: Vec<usize> = (0..rows).collect();
        single.update_batch(values, &indices, opt_filter, rows)?;
        if single.dim == 0 {
            single.dim = self.dim;
            single.resize(rows);
        }
        single.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        8 * (self.ata.capacity() + self.atb.capacity() + self.btb.capacity() + self.counts.capacity())
    }
}

/// The row-at-a-time form DataFusion uses where it cannot group (a global
/// aggregate): one group.
#[derive(Debug)]
struct SolveAccumulator(SolveGroups);

impl Accumulator for SolveAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values[0].len();
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.resize(1);
        let array = GroupsAccumulator::evaluate(&mut self.0, EmitTo::All)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        GroupsAccumulator::size(&self.0)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.resize(1);
        let arrays = GroupsAccumulator::state(&mut self.0, EmitTo::All)?;
        arrays.iter().map(|a| ScalarValue::try_from_array(a, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states[0].len();
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
}

/// `als_gram(x)`: `Σ x xᵀ` over the rows, row-major.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AlsGram {
    signature: Signature,
}

impl Default for AlsGram {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![list_f64()], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for AlsGram {
    fn name(&self) -> &str {
        "als_gram"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_f64())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(GramAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[gram]", args.name),
            list_f64(),
            true,
        ))])
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(DOC_SECTION, "Σ x xᵀ over the rows, row-major.", "als_gram(x)")
                .with_argument("x", "A list<double>; every row of the same length.")
                .build()
        }))
    }
}

/// The running `Σ x xᵀ` (full, row-major; `d²` values).
#[derive(Debug, Default)]
struct GramAccumulator {
    gram: Vec<f64>,
}

impl GramAccumulator {
    fn add(&mut self, v: &[f64], square: bool) -> Result<()> {
        let len = if square { v.len() * v.len() } else { v.len() };
        if self.gram.is_empty() {
            self.gram = vec![0.0; len];
        } else if self.gram.len() != len {
            return exec_err!("als_gram: vectors of different lengths");
        }
        if square {
            let d = v.len();
            for i in 0..d {
                for j in 0..d {
                    self.gram[i * d + j] += v[i] * v[j];
                }
            }
        } else {
            for (g, x) in self.gram.iter_mut().zip(v) {
                *g += x;
            }
        }
        Ok(())
    }

    fn scalar(&self) -> ScalarValue {
        let list = list_of(self.gram.clone(), self.gram.len(), 1, None);
        ScalarValue::List(Arc::new(list))
    }
}

fn each_vector(array: &ArrayRef, mut f: impl FnMut(&[f64]) -> Result<()>) -> Result<()> {
    let Some(list) = array.as_list_opt::<i32>() else {
        return exec_err!("als_gram: input is {}, expected list<double>", array.data_type());
    };
    for row in 0..list.len() {
        if list.is_null(row) {
            continue;
        }
        let v = list.value(row);
        let Some(v) = v.as_primitive_opt::<Float64Type>() else {
            return exec_err!("als_gram: lists of {}, expected double", v.data_type());
        };
        f(v.values())?;
    }
    Ok(())
}

impl Accumulator for GramAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        each_vector(&values[0], |v| self.add(v, true))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.scalar())
    }

    fn size(&self) -> usize {
        8 * self.gram.capacity()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.scalar()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        each_vector(&states[0], |v| if v.is_empty() { Ok(()) } else { self.add(v, false) })
    }
}

/// `als_init(key, seed, rank, scale)`: see [`init_vector`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AlsInit {
    signature: Signature,
}

impl Default for AlsInit {
    fn default() -> Self {
        let tail = [DataType::Int64, DataType::Int64, DataType::Float64];
        let with = |key: DataType| TypeSignature::Exact(std::iter::once(key).chain(tail.clone()).collect());
        Self {
            signature: Signature::one_of(vec![with(DataType::Int64), with(DataType::Utf8)], Volatility::Immutable),
        }
    }
}

/// A key column's hashes: a bigint key hashes its decimal text, so `12`
/// and `'12'` start alike.
fn key_hashes(array: &ArrayRef) -> Result<Vec<Option<u64>>> {
    if let Some(a) = array.as_primitive_opt::<Int64Type>() {
        return Ok(a.iter().map(|v| v.map(|v| hash_str(&v.to_string()))).collect());
    }
    if let Some(a) = array.as_string_opt::<i32>() {
        return Ok(a.iter().map(|v| v.map(hash_str)).collect());
    }
    exec_err!("a key of type {}, expected bigint or string", array.data_type())
}

fn scalar_i64(v: &ColumnarValue, name: &str, what: &str) -> Result<i64> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(v))) => Ok(*v),
        _ => exec_err!("{name}: {what} must be a non-null bigint constant"),
    }
}

impl ScalarUDFImpl for AlsInit {
    fn name(&self) -> &str {
        "als_init"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_f64())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seed = scalar_i64(&args.args[1], "als_init", "seed")?;
        let rank = usize::try_from(scalar_i64(&args.args[2], "als_init", "rank")?).unwrap_or(0);
        let scale = match &args.args[3] {
            ColumnarValue::Scalar(ScalarValue::Float64(Some(v))) => *v,
            _ => return exec_err!("als_init: scale must be a non-null double constant"),
        };
        if rank == 0 {
            return exec_err!("als_init: rank must be at least 1");
        }
        let keys = args.args[0].to_array(args.number_rows)?;
        let mut out = ListBuilder::new(Float64Builder::new());
        for h in key_hashes(&keys)? {
            match h {
                Some(h) => out.append_value(init_vector(h, seed, rank, scale).into_iter().map(Some)),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DOC_SECTION,
                "A key's starting factors: rank normal draws of standard deviation scale, fixed by key and seed.",
                "als_init(key, seed, rank, scale)",
            )
            .with_sql_example("SELECT als_init(CAST(1 AS BIGINT), CAST(42 AS BIGINT), CAST(3 AS BIGINT), 0.1);")
            .build()
        }))
    }
}

/// `als_dot(a, b)`: null when either is null; an error when the lengths
/// differ.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AlsDot {
    signature: Signature,
}

impl Default for AlsDot {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![list_f64(), list_f64()], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for AlsDot {
    fn name(&self) -> &str {
        "als_dot"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        let b = args.args[1].to_array(args.number_rows)?;
        let (Some(a), Some(b)) = (a.as_list_opt::<i32>(), b.as_list_opt::<i32>()) else {
            return exec_err!("als_dot: arguments must be list<double>");
        };
        let (av, bv) = (list_values(a, "als_dot's a")?, list_values(b, "als_dot's b")?);
        let mut out = Float64Builder::with_capacity(a.len());
        for row in 0..a.len() {
            if a.is_null(row) || b.is_null(row) {
                out.append_null();
                continue;
            }
            let (a0, a1) = (a.value_offsets()[row] as usize, a.value_offsets()[row + 1] as usize);
            let (b0, b1) = (b.value_offsets()[row] as usize, b.value_offsets()[row + 1] as usize);
            if a1 - a0 != b1 - b0 {
                return exec_err!("als_dot: vectors of {} and {} values", a1 - a0, b1 - b0);
            }
            let dot = av.values()[a0..a1]
                .iter()
                .zip(&bv.values()[b0..b1])
                .map(|(x, y)| x * y)
                .sum();
            out.append_value(dot);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `split_unit(seed, user, item)`: a uniform draw in `[0, 1)` that depends
/// on its arguments alone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitUnit {
    signature: Signature,
}

impl Default for SplitUnit {
    fn default() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Utf8, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for SplitUnit {
    fn name(&self) -> &str {
        "split_unit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seed = scalar_i64(&args.args[0], "split_unit", "seed")?;
        let users = key_hashes(&args.args[1].to_array(args.number_rows)?)?;
        let items = args.args[2].to_array(args.number_rows)?;
        let Some(items) = items.as_primitive_opt::<Int64Type>() else {
            return exec_err!("split_unit: item must be bigint");
        };
        let out: Float64Array = users
            .iter()
            .zip(items.iter())
            .map(|(u, i)| Some(split_unit(seed, (*u)?, i?)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The draw of `split_unit` for a user's hash and an item.
pub fn split_unit(seed: i64, user_hash: u64, item: i64) -> f64 {
    unit(mix(mix(user_hash ^ mix(seed as u64)) ^ item as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
    use datafusion::prelude::SessionContext;

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::new_from_impl(AlsSolve::default()));
        ctx.register_udaf(AggregateUDF::new_from_impl(AlsGram::default()));
        ctx.register_udf(ScalarUDF::new_from_impl(AlsDot::default()));
        ctx
    }

    #[tokio::test]
    async fn solve_per_group_in_sql_matches_the_direct_solve() -> Result<()> {
        let ctx = ctx();
        let sql = "SELECT k, als_solve(x, 1.0, y, 0.1, true) AS s FROM (VALUES \
                   ('a', [1.0, 0.0], 2.0), ('a', [0.0, 1.0], -1.0), ('a', [1.0, 1.0], 1.0), ('b', [2.0, 1.0], 3.0)) \
                   AS t(k, x, y) GROUP BY k ORDER BY k";
        let batches = ctx.sql(sql).await?.collect().await?;
        let s = batches[0].column(1).as_struct();
        let w = s.column(0).as_list::<i32>();
        let mut eq = super::super::NormalEquations::new(2);
        eq.add(&[1.0, 0.0], 1.0, 2.0);
        eq.add(&[0.0, 1.0], 1.0, -1.0);
        eq.add(&[1.0, 1.0], 1.0, 1.0);
        let direct = eq.solve(0.1, true, &[]).expect("solvable");
        let got = w.value(0);
        assert_eq!(got.as_primitive::<Float64Type>().values().to_vec(), direct.w);
        assert_eq!(s.column(2).as_primitive::<Int64Type>().value(1), 1);
        // A non-constant lambda is refused.
        let bad = ctx
            .sql("SELECT als_solve(x, 1.0, y, y, true) FROM (VALUES ([1.0], 1.0)) AS t(x, y)")
            .await?
            .collect()
            .await;
        assert!(bad.is_err_and(|e| e.to_string().contains("must be a constant")));
        Ok(())
    }

    #[tokio::test]
    async fn gram_and_dot() -> Result<()> {
        let ctx = ctx();
        let batches = ctx
            .sql("SELECT als_gram(x) AS g, sum(als_dot(x, x)) AS d FROM (VALUES ([1.0, 2.0]), ([3.0, 0.0])) AS t(x)")
            .await?
            .collect()
            .await?;
        let g = batches[0].column(0).as_list::<i32>().value(0);
        assert_eq!(
            g.as_primitive::<Float64Type>().values().to_vec(),
            vec![10.0, 2.0, 2.0, 4.0]
        );
        assert_eq!(batches[0].column(1).as_primitive::<Float64Type>().value(0), 14.0);
        Ok(())
    }
}
