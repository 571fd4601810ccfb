//! A minimal pickle reader for the `data.pkl` that `torch.save` writes, which never runs code.
//!
//! Python's pickle is a small stack machine whose `GLOBAL` + `REDUCE` opcodes call arbitrary
//! functions, which is how a malicious checkpoint runs `os.system`. This reader interprets only
//! the opcodes torch.save emits for a state dict and resolves `GLOBAL` against a fixed
//! allow-list of tensor rebuilders; those are "called" by building plain Rust descriptions
//! ([`TensorRef`]), never by executing anything. Every other global is refused by name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::StoredDtype;

/// The only globals a checkpoint may name. Anything else is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])`
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor(storage, offset, size, stride)` (older torch).
    RebuildTensor,
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: a Parameter is its data.
    RebuildParameter,
    /// `torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`.
    RebuildFromTypeV2,
    /// `collections.OrderedDict`, called with no arguments: an empty dict.
    OrderedDict,
    /// `torch.<Type>Storage`, only meaningful inside a persistent id.
    StorageType(StoredDtype),
    /// `torch.Tensor` / `torch.nn.parameter.Parameter`, only as `new_type` of a rebuild.
    TensorType,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Self> {
        let global = match (module, name) {
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor") => Self::RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => Self::RebuildParameter,
            ("torch._tensor", "_rebuild_from_type_v2") => Self::RebuildFromTypeV2,
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch", "Tensor") | ("torch._tensor", "Tensor") => Self::TensorType,
            ("torch.nn.parameter", "Parameter") => Self::TensorType,
            ("torch", storage) => Self::StorageType(match storage {
                "DoubleStorage" => StoredDtype::F64,
                "FloatStorage" => StoredDtype::F32,
                "HalfStorage" => StoredDtype::F16,
                "BFloat16Storage" => StoredDtype::BF16,
                "LongStorage" => StoredDtype::I64,
                "IntStorage" => StoredDtype::I32,
                "ShortStorage" => StoredDtype::I16,
                "CharStorage" => StoredDtype::I8,
                "ByteStorage" | "UntypedStorage" => StoredDtype::U8,
                "BoolStorage" => StoredDtype::Bool,
                _ => return None,
            }),
            _ => return None,
        };
        Some(global)
    }
}

/// A storage named by a persistent id: its bytes are the zip entry `data/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageRef {
    pub dtype: StoredDtype,
    pub key: String,
    /// Element count the pickle claims; checked against the zip entry's size.
    pub numel: usize,
}

/// A tensor as torch describes it: a view (`offset`, `shape`, `strides`, in elements) of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

/// A container that the memo and the stack both refer to.
type Shared<T> = Rc<RefCell<T>>;

/// A value on the pickle stack. Containers are shared (`Rc`) because the memo hands out
/// references that later opcodes mutate (the top dict is memoised, then filled).
/// No `Debug`: a crafted pickle can make a list contain itself.
#[derive(Clone)]
// Scalars and bytes are parsed faithfully even though no state-dict field needs their values.
#[allow(dead_code)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Value]>),
    List(Shared<Vec<Value>>),
    Dict(Shared<Vec<(Value, Value)>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::Tuple(_) => "tuple",
            Self::List(_) => "list",
            Self::Dict(_) => "dict",
            Self::Global(_) => "global",
            Self::Storage(_) => "storage",
            Self::Tensor(_) => "tensor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PickleError {
    /// A `GLOBAL` outside the allow-list, as `module.name`.
    Unsafe(String),
    /// The bytes ended before `STOP`.
    Truncated { offset: usize },
    /// Anything else that is not a torch.save state dict.
    Malformed { offset: usize, why: String },
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsafe(global) => write!(f, "pickle names the disallowed global `{global}`"),
            Self::Truncated { offset } => {
                write!(f, "pickle ends at byte {offset} before its STOP opcode")
            }
            Self::Malformed { offset, why } => write!(f, "pickle byte {offset}: {why}"),
        }
    }
}

/// Interprets `bytes` and returns the value left by `STOP`.
pub(crate) fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    Machine {
        bytes,
        pos: 0,
        op_start: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where the opcode being executed starts (for error messages).
    op_start: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

type Step<T> = Result<T, PickleError>;

impl<'a> Machine<'a> {
    fn run(mut self) -> Step<Value> {
        loop {
            self.op_start = self.pos;
            let op = self.take_u8()?;
            match op {
                0x80 => {
                    // PROTO: torch.save writes 2; accept up to 5 since the opcodes used are a subset.
                    let version = self.take_u8()?;
                    if version > 5 {
                        return Err(self.malformed(format!("pickle protocol {version} is unknown")));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only.
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.peek()?.clone();
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.take_u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take_array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    let len = usize::from(self.take_u8()?);
                    let v = self.take_long(len)?;
                    self.stack.push(Value::Int(v));
                }
                0x8b => {
                    let len = u32::from_le_bytes(self.take_array()?) as usize;
                    let v = self.take_long(len)?;
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take_array()?);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let len = u32::from_le_bytes(self.take_array()?) as usize;
                    let s = self.take_str(len)?;
                    self.stack.push(s);
                }
                0x8c => {
                    let len = usize::from(self.take_u8()?);
                    let s = self.take_str(len)?;
                    self.stack.push(s);
                }
                0x8d => {
                    let len = self.take_len_u64()?;
                    let s = self.take_str(len)?;
                    self.stack.push(s);
                }
                b'C' => {
                    let len = usize::from(self.take_u8()?);
                    let b = self.take(len)?;
                    self.stack.push(Value::Bytes(b.into()));
                }
                b'B' => {
                    let len = u32::from_le_bytes(self.take_array()?) as usize;
                    let b = self.take(len)?;
                    self.stack.push(Value::Bytes(b.into()));
                }
                b')' => self.stack.push(Value::Tuple(Rc::from(Vec::new()))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items.into()));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(self.malformed("TUPLE on a short stack"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items.into()));
                }
                b']' => self.stack.push(Value::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.list_top()?.borrow_mut().push(item);
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.list_top()?.borrow_mut().extend(items);
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.stack.push(Value::Dict(Rc::new(RefCell::new(pairs))));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.dict_top()?.borrow_mut().push((key, value));
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.dict_top()?.borrow_mut().extend(pairs);
                }
                b'q' => {
                    let index = u32::from(self.take_u8()?);
                    self.memoize(index)?;
                }
                b'r' => {
                    let index = u32::from_le_bytes(self.take_array()?);
                    self.memoize(index)?;
                }
                0x94 => {
                    let index = u32::try_from(self.memo.len())
                        .map_err(|_| self.malformed("memo overflow"))?;
                    self.memoize(index)?;
                }
                b'h' => {
                    let index = u32::from(self.take_u8()?);
                    self.recall(index)?;
                }
                b'j' => {
                    let index = u32::from_le_bytes(self.take_array()?);
                    self.recall(index)?;
                }
                b'c' => {
                    let module = self.take_line()?;
                    let name = self.take_line()?;
                    let global = Global::resolve(&module, &name)
                        .ok_or_else(|| PickleError::Unsafe(format!("{module}.{name}")))?;
                    self.stack.push(Value::Global(global));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.malformed("STACK_GLOBAL needs two strings"));
                    };
                    let global = Global::resolve(&module, &name)
                        .ok_or_else(|| PickleError::Unsafe(format!("{module}.{name}")))?;
                    self.stack.push(Value::Global(global));
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent_storage(pid)?;
                    self.stack.push(Value::Storage(Rc::new(storage)));
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = self.reduce(callable, args)?;
                    self.stack.push(result);
                }
                b'b' => {
                    // BUILD sets attributes (OrderedDict `_metadata`, tensor python state);
                    // none of them matter for the weights, so the state is dropped.
                    let _state = self.pop()?;
                    match self.peek()? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => {
                            let kind = other.kind();
                            return Err(self.malformed(format!("BUILD on a {kind}")));
                        }
                    }
                }
                other => {
                    return Err(self.malformed(format!(
                        "opcode 0x{other:02x} is not one that torch.save writes"
                    )));
                }
            }
        }
    }

    fn malformed(&self, why: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_start,
            why: why.into(),
        }
    }

    fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        let bytes: &'a [u8] = self.bytes;
        let end = self.pos.checked_add(n).filter(|&end| end <= bytes.len());
        let Some(end) = end else {
            return Err(PickleError::Truncated {
                offset: bytes.len(),
            });
        };
        let slice = &bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn take_u8(&mut self) -> Step<u8> {
        Ok(self.take(1)?[0])
    }

    fn take_array<const N: usize>(&mut self) -> Step<[u8; N]> {
        let slice = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn take_len_u64(&mut self) -> Step<usize> {
        let len = u64::from_le_bytes(self.take_array()?);
        usize::try_from(len).map_err(|_| PickleError::Truncated {
            offset: self.bytes.len(),
        })
    }

    /// A little-endian two's-complement integer of `len` bytes (LONG1 / LONG4).
    fn take_long(&mut self, len: usize) -> Step<i64> {
        if len > 8 {
            return Err(self.malformed(format!("{len}-byte integer is too large")));
        }
        let bytes = self.take(len)?;
        if bytes.is_empty() {
            return Ok(0);
        }
        let negative = bytes[len - 1] & 0x80 != 0;
        let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
        buf[..len].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(buf))
    }

    fn take_str(&mut self, len: usize) -> Step<Value> {
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(s.into())),
            Err(_) => Err(self.malformed("string is not UTF-8")),
        }
    }

    /// A newline-terminated ASCII line (the module and name of `GLOBAL`).
    fn take_line(&mut self) -> Step<String> {
        let rest = &self.bytes[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            return Err(PickleError::Truncated {
                offset: self.bytes.len(),
            });
        };
        let line = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(line)
    }

    fn pop(&mut self) -> Step<Value> {
        match self.stack.pop() {
            Some(value) => Ok(value),
            None => Err(self.malformed("stack underflow")),
        }
    }

    fn peek(&self) -> Step<&Value> {
        self.stack
            .last()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn pop_mark(&mut self) -> Step<Vec<Value>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.malformed("no MARK to pop to"));
        };
        if mark > self.stack.len() {
            return Err(self.malformed("MARK above the stack top"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn list_top(&self) -> Step<Shared<Vec<Value>>> {
        match self.peek()? {
            Value::List(list) => Ok(list.clone()),
            other => Err(self.malformed(format!("APPEND to a {}", other.kind()))),
        }
    }

    fn dict_top(&self) -> Step<Shared<Vec<(Value, Value)>>> {
        match self.peek()? {
            Value::Dict(dict) => Ok(dict.clone()),
            other => Err(self.malformed(format!("SETITEM on a {}", other.kind()))),
        }
    }

    fn pairs(&self, items: Vec<Value>) -> Step<Vec<(Value, Value)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of dict items"));
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut iter = items.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            pairs.push((k, v));
        }
        Ok(pairs)
    }

    fn memoize(&mut self, index: u32) -> Step<()> {
        let top = self.peek()?.clone();
        self.memo.insert(index, top);
        Ok(())
    }

    fn recall(&mut self, index: u32) -> Step<()> {
        let value = self.memo.get(&index).cloned();
        match value {
            Some(value) => {
                self.stack.push(value);
                Ok(())
            }
            None => Err(self.malformed(format!("memo slot {index} is empty"))),
        }
    }

    /// `('storage', torch.XStorage, key, location, numel)`: the only persistent id torch writes.
    fn persistent_storage(&self, pid: Value) -> Step<StorageRef> {
        let Value::Tuple(items) = pid else {
            return Err(self.malformed("persistent id is not a tuple"));
        };
        match &items[..] {
            [
                Value::Str(tag),
                Value::Global(Global::StorageType(dtype)),
                key,
                _location,
                numel,
            ] if &**tag == "storage" => {
                let key = match key {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(self.malformed("storage key is not a string")),
                };
                Ok(StorageRef {
                    dtype: *dtype,
                    key,
                    numel: self.usize_of(numel, "storage size")?,
                })
            }
            _ => Err(self.malformed("persistent id is not ('storage', type, key, location, size)")),
        }
    }

    fn usize_of(&self, value: &Value, what: &str) -> Step<usize> {
        match value {
            Value::Int(i) => {
                usize::try_from(*i).map_err(|_| self.malformed(format!("{what} {i} is negative")))
            }
            other => Err(self.malformed(format!("{what} is a {}, not an int", other.kind()))),
        }
    }

    fn usizes_of(&self, value: &Value, what: &str) -> Step<Vec<usize>> {
        match value {
            Value::Tuple(items) => items.iter().map(|v| self.usize_of(v, what)).collect(),
            Value::List(items) => items
                .borrow()
                .iter()
                .map(|v| self.usize_of(v, what))
                .collect(),
            other => Err(self.malformed(format!("{what} is a {}, not a tuple", other.kind()))),
        }
    }

    /// `REDUCE`: "call" an allow-listed global by building what it would have returned.
    fn reduce(&self, callable: Value, args: Value) -> Step<Value> {
        let Value::Global(global) = callable else {
            return Err(self.malformed(format!("REDUCE on a {}", callable.kind())));
        };
        let Value::Tuple(args) = args else {
            return Err(self.malformed("REDUCE arguments are not a tuple"));
        };
        self.apply(global, &args)
    }

    fn apply(&self, global: Global, args: &[Value]) -> Step<Value> {
        match global {
            Global::RebuildTensorV2 | Global::RebuildTensor => {
                let [storage, offset, shape, strides, ..] = args else {
                    return Err(self.malformed("tensor rebuild with fewer than 4 arguments"));
                };
                let Value::Storage(storage) = storage else {
                    return Err(self.malformed("tensor rebuild without a storage"));
                };
                let shape = self.usizes_of(shape, "tensor size")?;
                let strides = self.usizes_of(strides, "tensor stride")?;
                if shape.len() != strides.len() {
                    return Err(self.malformed("tensor size and stride differ in length"));
                }
                Ok(Value::Tensor(Rc::new(TensorRef {
                    storage: storage.clone(),
                    offset: self.usize_of(offset, "storage offset")?,
                    shape,
                    strides,
                })))
            }
            Global::RebuildParameter => match args.first() {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
                _ => Err(self.malformed("parameter rebuild without a tensor")),
            },
            Global::RebuildFromTypeV2 => {
                let [
                    Value::Global(func),
                    Value::Global(Global::TensorType),
                    Value::Tuple(inner),
                    _,
                ] = args
                else {
                    return Err(self.malformed("unexpected _rebuild_from_type_v2 arguments"));
                };
                if !matches!(
                    func,
                    Global::RebuildTensorV2 | Global::RebuildTensor | Global::RebuildParameter
                ) {
                    return Err(self.malformed("_rebuild_from_type_v2 of a non-tensor function"));
                }
                self.apply(*func, inner)
            }
            Global::OrderedDict if args.is_empty() => Ok(Value::Dict(Rc::default())),
            Global::OrderedDict => Err(self.malformed("OrderedDict called with arguments")),
            Global::StorageType(_) | Global::TensorType => {
                Err(self.malformed("a torch type cannot be called here"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{ 'w': _rebuild_tensor_v2(pid('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict()) }`
    fn state_dict_pickle() -> Vec<u8> {
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        p.extend(b"X\x01\x00\x00\x00w");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01");
        p.extend(b"((X\x07\x00\x00\x00storage");
        p.extend(b"ctorch\nFloatStorage\n");
        p.extend(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ");
        p.extend(b"K\x00K\x02K\x03\x86K\x03K\x01\x86\x89");
        p.extend(b"ccollections\nOrderedDict\n)R");
        p.extend(b"tR");
        p.extend(b"u.");
        p
    }

    #[test]
    fn reads_a_tensor_state_dict() {
        let value = load(&state_dict_pickle()).expect("valid pickle");
        let Value::Dict(dict) = value else {
            panic!("not a dict")
        };
        let dict = dict.borrow();
        assert_eq!(dict.len(), 1);
        let (Value::Str(key), Value::Tensor(t)) = &dict[0] else {
            panic!("not str -> tensor")
        };
        assert_eq!(&**key, "w");
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.strides, vec![3, 1]);
        assert_eq!(t.offset, 0);
        assert_eq!(
            *t.storage,
            StorageRef {
                dtype: StoredDtype::F32,
                key: "0".into(),
                numel: 6
            }
        );
    }

    #[test]
    fn every_cut_of_a_valid_pickle_is_an_error_not_a_panic() {
        let full = state_dict_pickle();
        for cut in 0..full.len() {
            assert!(load(&full[..cut]).is_err(), "cut at {cut} was accepted");
        }
    }

    #[test]
    fn refuses_os_system() {
        let p = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85R.";
        assert_eq!(load(p).err(), Some(PickleError::Unsafe("os.system".into())));
    }

    #[test]
    fn refuses_stack_global_eval() {
        let p = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.";
        assert_eq!(
            load(p).err(),
            Some(PickleError::Unsafe("builtins.eval".into()))
        );
    }

    #[test]
    fn refuses_unknown_torch_globals_and_calls_of_types() {
        let p = b"\x80\x02ctorch\nload\n.";
        assert_eq!(
            load(p).err(),
            Some(PickleError::Unsafe("torch.load".into()))
        );
        let p = b"\x80\x02ctorch\nFloatStorage\n)R.";
        assert!(matches!(load(p), Err(PickleError::Malformed { .. })));
    }

    #[test]
    fn refuses_opcodes_torch_does_not_write() {
        // INST ('i') can instantiate arbitrary classes in real pickle.
        let p = b"\x80\x02(ios\nsystem\n.";
        assert!(matches!(
            load(p),
            Err(PickleError::Malformed { offset: 3, .. })
        ));
    }

    #[test]
    fn long1_reads_negative_and_large_integers() {
        let p = b"\x80\x02\x8a\x05\x00\x00\x00\x00\x01.";
        assert!(matches!(load(p), Ok(Value::Int(0x1_0000_0000))));
        let p = b"\x80\x02\x8a\x01\xff.";
        assert!(matches!(load(p), Ok(Value::Int(-1))));
    }
}
