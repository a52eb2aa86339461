//! A pickle reader for PyTorch state dicts that builds values and never executes anything.
//!
//! It understands the opcodes `torch.save` emits for a state dict (protocol 2): globals are
//! kept as names, `REDUCE` and `NEWOBJ` become [`Value::Call`] records that the caller
//! interprets (`collections.OrderedDict` becomes a plain dict), `BUILD` state is dropped
//! (a state dict's only attribute is `_metadata`), and persistent ids are kept as
//! [`Value::PersistentId`]. Every read is bounds-checked, so a truncated or corrupt pickle is
//! an error, never a panic.

use std::collections::HashMap;

/// A value on the pickle machine's stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// A `LONG1` integer too wide for 64 bits, as its little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    String(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Key-value pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A global reference `module.name`, never resolved.
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)`, not evaluated.
    Call {
        callable: Box<Value>,
        args: Box<Value>,
    },
    /// A reference to data stored outside the pickle (a tensor storage).
    PersistentId(Box<Value>),
    /// The `MARK` opcode's stack marker.
    Mark,
}

/// Why a pickle could not be read: the byte offset and what was wrong there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pickle byte {offset}: {reason}")]
pub struct PickleError {
    pub offset: usize,
    pub reason: String,
}

/// Reads one pickle from the start of `bytes`; returns its value and the number of bytes it
/// spans, so that files holding several pickles in a row can be read one after another.
pub fn read_pickle(bytes: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine {
        bytes,
        position: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let value = machine.run()?;
    Ok((value, machine.position))
}

struct Machine<'a> {
    bytes: &'a [u8],
    position: usize,
    stack: Vec<Value>,
    // NOTE: memo entries are copies, so a container mutated after `BINPUT` is not seen
    // through later `BINGET`s. State dicts only share tensor-building globals and small
    // tuples that are complete when stored.
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let opcode_offset = self.position;
            let opcode = self.take_u8()?;
            match opcode {
                0x80 => {
                    let protocol = self.take_u8()?;
                    if protocol > 5 {
                        return Err(self.error_at(
                            opcode_offset,
                            format!("unsupported pickle protocol {protocol}"),
                        ));
                    }
                }
                b'.' => return self.pop(),
                b'c' => {
                    let module = self.take_line()?;
                    let name = self.take_line()?;
                    self.stack.push(Value::Global { module, name });
                }
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let value = self.take_u8()?;
                    self.stack.push(Value::Int(value.into()));
                }
                b'M' => {
                    let value = u16::from_le_bytes(self.take_array()?);
                    self.stack.push(Value::Int(value.into()));
                }
                b'J' => {
                    let value = i32::from_le_bytes(self.take_array()?);
                    self.stack.push(Value::Int(value.into()));
                }
                0x8a => {
                    let length = usize::from(self.take_u8()?);
                    let digits = self.take(length)?;
                    self.stack.push(long_from_bytes(digits));
                }
                b'G' => {
                    let value = f64::from_be_bytes(self.take_array()?);
                    self.stack.push(Value::Float(value));
                }
                b'X' => {
                    let length = u32::from_le_bytes(self.take_array()?) as usize;
                    let raw = self.take(length)?;
                    let text = std::str::from_utf8(raw)
                        .map_err(|_| self.error_at(opcode_offset, "string is not UTF-8"))?;
                    self.stack.push(Value::String(text.to_owned()));
                }
                b'q' => {
                    let id = self.take_u8()?;
                    self.memo_put(id.into())?;
                }
                b'r' => {
                    let id = u32::from_le_bytes(self.take_array()?);
                    self.memo_put(id)?;
                }
                b'h' => {
                    let id = self.take_u8()?;
                    self.memo_get(id.into(), opcode_offset)?;
                }
                b'j' => {
                    let id = u32::from_le_bytes(self.take_array()?);
                    self.memo_get(id, opcode_offset)?;
                }
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let count = usize::from(opcode - 0x84);
                    if self.stack.len() < count {
                        return Err(self.error_at(opcode_offset, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - count);
                    self.stack.push(Value::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.stack.push(Value::List(items));
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    let pairs = pair_up(items)
                        .ok_or_else(|| self.error_at(opcode_offset, "odd number of dict items"))?;
                    self.stack.push(Value::Dict(pairs));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_list(vec![item], opcode_offset)?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.extend_list(items, opcode_offset)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_dict(vec![(key, value)], opcode_offset)?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    let pairs = pair_up(items)
                        .ok_or_else(|| self.error_at(opcode_offset, "odd number of dict items"))?;
                    self.extend_dict(pairs, opcode_offset)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(callable, args));
                }
                b'b' => {
                    // The state would set attributes; a state dict's only one is `_metadata`.
                    self.pop()?;
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.stack.push(Value::PersistentId(Box::new(id)));
                }
                other => {
                    return Err(
                        self.error_at(opcode_offset, format!("unsupported opcode 0x{other:02x}"))
                    )
                }
            }
        }
    }

    fn error_at(&self, offset: usize, reason: impl Into<String>) -> PickleError {
        PickleError {
            offset,
            reason: reason.into(),
        }
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .position
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.error_at(self.position, "unexpected end of data"))?;
        let bytes: &'a [u8] = self.bytes;
        let slice = &bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn take_u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn take_line(&mut self) -> Result<String, PickleError> {
        let start = self.position;
        let rest = &self.bytes[start..];
        let length = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.error_at(start, "unterminated line"))?;
        let line = std::str::from_utf8(&rest[..length])
            .map_err(|_| self.error_at(start, "global name is not UTF-8"))?
            .to_owned();
        self.position = start + length + 1;
        Ok(line)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack
            .pop()
            .ok_or_else(|| self.error_at(self.position, "stack underflow"))
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or_else(|| self.error_at(self.position, "no mark on the stack"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn memo_put(&mut self, id: u32) -> Result<(), PickleError> {
        let top = self
            .stack
            .last()
            .ok_or_else(|| self.error_at(self.position, "memo store on an empty stack"))?;
        self.memo.insert(id, top.clone());
        Ok(())
    }

    fn memo_get(&mut self, id: u32, offset: usize) -> Result<(), PickleError> {
        let value = self
            .memo
            .get(&id)
            .ok_or_else(|| self.error_at(offset, format!("memo entry {id} is missing")))?
            .clone();
        self.stack.push(value);
        Ok(())
    }

    fn extend_list(&mut self, items: Vec<Value>, offset: usize) -> Result<(), PickleError> {
        match self.stack.last_mut() {
            Some(Value::List(list)) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.error_at(offset, "append to something that is not a list")),
        }
    }

    fn extend_dict(
        &mut self,
        pairs: Vec<(Value, Value)>,
        offset: usize,
    ) -> Result<(), PickleError> {
        match self.stack.last_mut() {
            Some(Value::Dict(dict)) => {
                dict.extend(pairs);
                Ok(())
            }
            _ => Err(self.error_at(offset, "set item on something that is not a dict")),
        }
    }
}

/// `callable(*args)`, with `OrderedDict()` turned into an empty dict that later `SETITEMS`
/// fill.
fn call(callable: Value, args: Value) -> Value {
    if let Value::Global { module, name } = &callable {
        if module == "collections" && name == "OrderedDict" && args == Value::Tuple(Vec::new()) {
            return Value::Dict(Vec::new());
        }
    }
    Value::Call {
        callable: Box::new(callable),
        args: Box::new(args),
    }
}

fn long_from_bytes(digits: &[u8]) -> Value {
    if digits.len() > 8 {
        return Value::BigInt(digits.to_vec());
    }
    let negative = digits.last().is_some_and(|&b| b & 0x80 != 0);
    let mut bytes = if negative { [0xff; 8] } else { [0; 8] };
    bytes[..digits.len()].copy_from_slice(digits);
    Value::Int(i64::from_le_bytes(bytes))
}

fn pair_up(items: Vec<Value>) -> Option<Vec<(Value, Value)>> {
    if items.len() % 2 != 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_dict_with_items_reads() {
        // pickle.dumps(collections.OrderedDict([("a", 1), ("b", (2, 3))]), protocol=2)
        let bytes = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aq\x02K\x01X\x01\x00\x00\x00bq\x03K\x02K\x03\x86q\x04u.";
        let (value, length) = read_pickle(bytes).unwrap();
        assert_eq!(length, bytes.len());
        assert_eq!(
            value,
            Value::Dict(vec![
                (Value::String("a".into()), Value::Int(1)),
                (
                    Value::String("b".into()),
                    Value::Tuple(vec![Value::Int(2), Value::Int(3)])
                ),
            ])
        );
    }

    #[test]
    fn truncated_pickle_is_an_error() {
        let bytes = b"\x80\x02X\x05\x00\x00\x00ab";
        let error = read_pickle(bytes).unwrap_err();
        assert_eq!(error.reason, "unexpected end of data");
    }

    #[test]
    fn negative_long_sign_extends() {
        assert_eq!(long_from_bytes(&[0xfe]), Value::Int(-2));
        assert_eq!(long_from_bytes(&[0x00, 0x01]), Value::Int(256));
    }
}
