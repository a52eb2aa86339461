//! A pickle reader for TorchScript `data.pkl` streams that builds a value graph and never
//! executes anything.
//!
//! Only the opcodes that PyTorch's TorchScript writer emits for module trees (pickle
//! protocol 2) are accepted; any other opcode is an error. Values live in an arena and refer
//! to each other by index, so memo references (`BINGET`) are cheap, cycles cannot leak or
//! recurse, and dropping the graph is flat. Every length read from the stream is checked
//! against the bytes that remain, so malformed input cannot request a huge allocation.

use std::collections::HashMap;

/// Index of a [`Node`] in a [`PickleGraph`].
pub type NodeId = usize;

/// One value of the pickle stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    /// A `GLOBAL` reference such as `torch._utils._rebuild_tensor_v2`.
    Global {
        module: String,
        name: String,
    },
    Tuple(Vec<NodeId>),
    List(Vec<NodeId>),
    Dict(Vec<(NodeId, NodeId)>),
    /// The result of `REDUCE` or `NEWOBJ`, never evaluated: the callable, its argument
    /// tuple and the state a later `BUILD` attached.
    Object {
        callable: NodeId,
        args: NodeId,
        state: Option<NodeId>,
    },
    /// A `BINPERSID` reference; TorchScript uses it for tensor storages.
    PersistentId(NodeId),
}

/// The values of a pickle stream and the one it returns.
#[derive(Debug)]
pub struct PickleGraph {
    nodes: Vec<Node>,
    root: NodeId,
}

/// Why a pickle stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {reason}")]
pub struct PickleError {
    /// Offset of the opcode that failed.
    pub offset: usize,
    pub reason: String,
}

impl PickleGraph {
    /// Parses a whole pickle stream up to its `STOP` opcode.
    pub fn parse(bytes: &[u8]) -> Result<Self, PickleError> {
        Parser::new(bytes).run()
    }

    /// The value the stream returns.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node at `id`; ids come from this graph, so the lookup cannot fail.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
}

#[derive(Debug, Clone, Copy)]
enum StackItem {
    Mark,
    Value(NodeId),
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
    opcode_offset: usize,
    nodes: Vec<Node>,
    stack: Vec<StackItem>,
    memo: HashMap<u32, NodeId>,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            position: 0,
            opcode_offset: 0,
            nodes: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> PickleError {
        PickleError {
            offset: self.opcode_offset,
            reason: reason.into(),
        }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                self.error(format!("stream ends inside an argument of {count} bytes"))
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn read_u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn read_u16(&mut self) -> Result<u16, PickleError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn read_u32(&mut self) -> Result<u32, PickleError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn read_line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.position..];
        let length = rest
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or_else(|| self.error("GLOBAL argument has no terminating newline"))?;
        let line = self.take(length + 1)?;
        std::str::from_utf8(&line[..length])
            .map(str::to_owned)
            .map_err(|_| self.error("GLOBAL argument is not UTF-8"))
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(StackItem::Value(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<NodeId, PickleError> {
        match self.stack.pop() {
            Some(StackItem::Value(id)) => Ok(id),
            Some(StackItem::Mark) => Err(self.error("expected a value, found a MARK")),
            None => Err(self.error("stack underflow")),
        }
    }

    fn top(&self) -> Result<NodeId, PickleError> {
        match self.stack.last() {
            Some(StackItem::Value(id)) => Ok(*id),
            Some(StackItem::Mark) => Err(self.error("expected a value, found a MARK")),
            None => Err(self.error("stack underflow")),
        }
    }

    fn pop_to_mark(&mut self) -> Result<Vec<NodeId>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|item| matches!(item, StackItem::Mark))
            .ok_or_else(|| self.error("no MARK on the stack"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|item| match item {
                StackItem::Value(id) => Some(id),
                StackItem::Mark => None,
            })
            .collect())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.error(format!("memo key {key} was never stored")))?;
        self.stack.push(StackItem::Value(id));
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn run(mut self) -> Result<PickleGraph, PickleError> {
        loop {
            self.opcode_offset = self.position;
            let opcode = self.read_u8()?;
            match opcode {
                // PROTO
                0x80 => {
                    let version = self.read_u8()?;
                    if version > 5 {
                        return Err(self.error(format!("unsupported pickle protocol {version}")));
                    }
                }
                // GLOBAL
                b'c' => {
                    let module = self.read_line()?;
                    let name = self.read_line()?;
                    self.push_node(Node::Global { module, name });
                }
                // BINPUT, LONG_BINPUT
                b'q' => {
                    let key = self.read_u8()?;
                    self.memo_put(key.into())?;
                }
                b'r' => {
                    let key = self.read_u32()?;
                    self.memo_put(key)?;
                }
                // BINGET, LONG_BINGET
                b'h' => {
                    let key = self.read_u8()?;
                    self.memo_get(key.into())?;
                }
                b'j' => {
                    let key = self.read_u32()?;
                    self.memo_get(key)?;
                }
                // MARK
                b'(' => self.stack.push(StackItem::Mark),
                // TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let count = usize::from(opcode - 0x84);
                    let mut items = Vec::with_capacity(count);
                    for _ in 0..count {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                b')' => self.push_node(Node::Tuple(Vec::new())),
                // EMPTY_DICT, EMPTY_LIST
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b']' => self.push_node(Node::List(Vec::new())),
                // SETITEMS
                b'u' => {
                    let items = self.pop_to_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.error("SETITEMS with an odd number of values"));
                    }
                    let dict = self.top()?;
                    let Node::Dict(entries) = &mut self.nodes[dict] else {
                        return Err(self.error("SETITEMS on a value that is not a dict"));
                    };
                    entries.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                }
                // APPENDS, APPEND
                b'e' | b'a' => {
                    let items = if opcode == b'e' {
                        self.pop_to_mark()?
                    } else {
                        vec![self.pop()?]
                    };
                    let list = self.top()?;
                    let Node::List(values) = &mut self.nodes[list] else {
                        return Err(self.error("APPEND on a value that is not a list"));
                    };
                    values.extend(items);
                }
                // BINUNICODE
                b'X' => {
                    let length = self.read_u32()? as usize;
                    let bytes = self.take(length)?;
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| self.error("BINUNICODE string is not UTF-8"))?;
                    self.push_node(Node::Str(text.to_owned()));
                }
                // BININT, BININT1, BININT2
                b'J' => {
                    let value = self.read_u32()? as i32;
                    self.push_node(Node::Int(value.into()));
                }
                b'K' => {
                    let value = self.read_u8()?;
                    self.push_node(Node::Int(value.into()));
                }
                b'M' => {
                    let value = self.read_u16()?;
                    self.push_node(Node::Int(value.into()));
                }
                // NEWTRUE, NEWFALSE, NONE
                0x88 => self.push_node(Node::Bool(true)),
                0x89 => self.push_node(Node::Bool(false)),
                b'N' => self.push_node(Node::None),
                // REDUCE, NEWOBJ: recorded, never called.
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.push_node(Node::Object {
                        callable,
                        args,
                        state: None,
                    });
                }
                // BUILD
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::Object { state: slot, .. } if slot.is_none() => *slot = Some(state),
                        _ => return Err(self.error("BUILD on a value that is not a new object")),
                    }
                }
                // BINPERSID
                b'Q' => {
                    let id = self.pop()?;
                    self.push_node(Node::PersistentId(id));
                }
                // STOP
                b'.' => {
                    let root = self.pop()?;
                    return Ok(PickleGraph {
                        nodes: self.nodes,
                        root,
                    });
                }
                other => {
                    return Err(self.error(format!(
                        "opcode 0x{other:02x} is not used by TorchScript module archives"
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_tuple_and_dict() {
        // pickle.dumps({"a": (1, 300, True)}, protocol=2), written out by hand.
        let bytes = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01M,\x01\x88\x87q\x02s.";
        // `s` (SETITEM) is not in the TorchScript set, so the same value via SETITEMS:
        assert!(PickleGraph::parse(bytes).is_err());
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01M,\x01\x88\x87u.";
        let graph = PickleGraph::parse(bytes).expect("valid pickle");
        let Node::Dict(entries) = graph.node(graph.root()) else {
            panic!("root is not a dict");
        };
        assert_eq!(entries.len(), 1);
        let (key, value) = entries[0];
        assert_eq!(graph.node(key), &Node::Str("a".into()));
        let Node::Tuple(items) = graph.node(value) else {
            panic!("value is not a tuple");
        };
        let values: Vec<&Node> = items.iter().map(|&id| graph.node(id)).collect();
        assert_eq!(values, [&Node::Int(1), &Node::Int(300), &Node::Bool(true)]);
    }

    #[test]
    fn oversized_string_length_is_error() {
        let bytes = b"\x80\x02X\xff\xff\xff\xffabc.";
        let error = PickleGraph::parse(bytes).expect_err("length exceeds the stream");
        assert_eq!(error.offset, 2);
    }

    #[test]
    fn memo_cycle_parses_without_recursion() {
        // A list that contains itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP.
        let bytes = b"]q\x00h\x00a.";
        let graph = PickleGraph::parse(bytes).expect("cycles are representable");
        assert_eq!(graph.node(graph.root()), &Node::List(vec![graph.root()]));
    }
}
