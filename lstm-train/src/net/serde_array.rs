//! serde for `ndarray` arrays without the `ndarray/serde` feature:
//! an array is written as `{ "dim": [..], "data": [..] }` (row-major).

use ndarray::{Array, Dimension, IxDyn};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize)]
struct ReprRef<'a, F> {
    dim: &'a [usize],
    data: Vec<&'a F>,
}

#[derive(Deserialize)]
struct Repr<F> {
    dim: Vec<usize>,
    data: Vec<F>,
}

/// Serialises an array as `{dim, data}` in logical (row-major) order.
pub(crate) fn serialize<S, F, D>(a: &Array<F, D>, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    F: Serialize,
    D: Dimension,
{
    ReprRef {
        dim: a.shape(),
        data: a.iter().collect(),
    }
    .serialize(s)
}

/// Reads an array written by [`serialize`], checking rank and element count.
pub(crate) fn deserialize<'de, De, F, D>(d: De) -> Result<Array<F, D>, De::Error>
where
    De: Deserializer<'de>,
    F: Deserialize<'de>,
    D: Dimension,
{
    let r = Repr::<F>::deserialize(d)?;
    let dim = D::from_dimension(&IxDyn(&r.dim)).ok_or_else(|| {
        De::Error::custom(format!("array of rank {} expected", D::NDIM.unwrap_or(0)))
    })?;
    Array::from_shape_vec(dim, r.data).map_err(De::Error::custom)
}
