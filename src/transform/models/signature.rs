//! A model file's signature — its graph's inputs and outputs with their shapes — read from the
//! ONNX protobuf directly, so a model is checked at start without loading ONNX Runtime (which
//! costs tens of MB of memory a process that never uses a model should not pay).
//!
//! Only the fields needed are decoded: `ModelProto.graph` (7) → `GraphProto.input` (11),
//! `output` (12), `initializer` (5, names only: old models list weights as inputs too).

/// A tensor the graph takes or gives: its name and dimensions (`None`: dynamic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Element type (ONNX's code: 1 is float32).
    pub elem_type: i64,
    /// Dimensions; `None` for a named or unknown one.
    pub dims: Vec<Option<i64>>,
}

/// A model's inputs (weights left out) and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signature {
    /// Inputs, in order.
    pub inputs: Vec<Tensor>,
    /// Outputs, in order.
    pub outputs: Vec<Tensor>,
}

/// One protobuf field: number and value.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order.
fn fields(mut data: &[u8]) -> Result<Vec<(u64, Value<'_>)>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (key, rest) = varint(data)?;
        data = rest;
        let value = match key & 7 {
            0 => {
                let (v, rest) = varint(data)?;
                data = rest;
                Value::Varint(v)
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                data = data.get(n..).ok_or("truncated fixed field")?;
                Value::Fixed
            }
            2 => {
                let (len, rest) = varint(data)?;
                let len = usize::try_from(len).map_err(|_| "field too long")?;
                let bytes = rest.get(..len).ok_or("truncated field")?;
                data = &rest[len..];
                Value::Bytes(bytes)
            }
            other => return Err(format!("unsupported protobuf wire type {other}")),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

fn varint(data: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, &data[i + 1..]));
        }
    }
    Err("bad varint".into())
}

fn bytes_of<'a, 'f>(
    fields: &'f [(u64, Value<'a>)],
    number: u64,
) -> impl Iterator<Item = &'a [u8]> + 'f {
    fields.iter().filter_map(move |(n, v)| match v {
        Value::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

fn first_bytes<'a>(fields: &[(u64, Value<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().find_map(|(n, v)| match v {
        Value::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

fn string_of(fields: &[(u64, Value<'_>)], number: u64) -> String {
    first_bytes(fields, number)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// `ValueInfoProto` → name, `TypeProto.tensor_type` → elem type, shape dims.
fn tensor(value_info: &[u8]) -> Result<Tensor, String> {
    let f = fields(value_info)?;
    let name = string_of(&f, 1);
    let mut elem_type = 0;
    let mut dims = Vec::new();
    if let Some(ty) = first_bytes(&f, 2) {
        let ty = fields(ty)?;
        if let Some(t) = first_bytes(&ty, 1) {
            let t = fields(t)?;
            for (n, v) in &t {
                if let (1, Value::Varint(e)) = (n, v) {
                    elem_type = *e as i64;
                }
            }
            if let Some(shape) = first_bytes(&t, 2) {
                let shape = fields(shape)?;
                for dim in bytes_of(&shape, 1) {
                    let d = fields(dim)?;
                    let value = d.iter().find_map(|(n, v)| match (n, v) {
                        (1, Value::Varint(x)) => Some(*x as i64),
                        _ => None,
                    });
                    dims.push(value);
                }
            }
        }
    }
    Ok(Tensor {
        name,
        elem_type,
        dims,
    })
}

/// Read the signature of the ONNX model in `bytes`. An error: not an ONNX model.
pub fn read(bytes: &[u8]) -> Result<Signature, String> {
    let model = fields(bytes).map_err(|e| format!("not an ONNX model ({e})"))?;
    let graph = first_bytes(&model, 7).ok_or("not an ONNX model (no graph)")?;
    let graph = fields(graph).map_err(|e| format!("not an ONNX model ({e})"))?;
    if first_bytes(&graph, 1).is_none() {
        return Err("not an ONNX model (its graph has no nodes)".into());
    }
    let mut weights = std::collections::HashSet::new();
    for init in bytes_of(&graph, 5) {
        weights.insert(string_of(&fields(init)?, 8));
    }
    let mut signature = Signature::default();
    for input in bytes_of(&graph, 11) {
        let t = tensor(input)?;
        if !weights.contains(&t.name) {
            signature.inputs.push(t);
        }
    }
    for output in bytes_of(&graph, 12) {
        signature.outputs.push(tensor(output)?);
    }
    if signature.inputs.is_empty() || signature.outputs.is_empty() {
        return Err("the model declares no inputs or no outputs".into());
    }
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_models_signatures_read() {
        let dir = std::path::Path::new(super::super::BUILTIN_DIR);
        let u2 = read(&std::fs::read(dir.join("u2netp.onnx")).unwrap()).unwrap();
        assert_eq!(u2.inputs.len(), 1);
        assert_eq!(u2.inputs[0].elem_type, 1);
        assert_eq!(u2.inputs[0].dims, [Some(1), Some(3), Some(320), Some(320)]);
        assert_eq!(u2.outputs[0].dims, [Some(1), Some(1), Some(320), Some(320)]);
        let up = read(&std::fs::read(dir.join("realesr-animevideov3-x4.onnx")).unwrap()).unwrap();
        assert_eq!(up.inputs[0].dims, [Some(1), Some(3), None, None]);
        assert!(read(b"not a model").is_err());
        assert!(read(b"").is_err());
    }
}
