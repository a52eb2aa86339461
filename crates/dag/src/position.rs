//! Source positions of the keys in a YAML file, for error messages.
//!
//! `serde_yaml::Value` carries no spans, so the file is scanned a second time with
//! yaml-rust2's event parser, recording where each key (and each sequence item) starts,
//! addressed by its path from the root (`["stages", "train", "params", "epochs"]`).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// The position of every key in one YAML document.
#[derive(Debug, Default)]
pub struct Positions {
    by_path: HashMap<Vec<String>, Position>,
}

impl Positions {
    /// Scans `text`; a document the scanner cannot read yields no positions (serde_yaml reports
    /// the syntax error itself).
    pub fn scan(text: &str) -> Self {
        let mut collector = Collector::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut collector, false).is_err() {
            return Self::default();
        }
        Self {
            by_path: collector.positions,
        }
    }

    /// Returns the position of `path`, or of its nearest ancestor that has one, or line 1 column 1.
    pub fn of(&self, path: &[&str]) -> Position {
        let mut path: Vec<String> = path.iter().map(|part| part.to_string()).collect();
        loop {
            if let Some(position) = self.by_path.get(&path) {
                return *position;
            }
            if path.pop().is_none() {
                return Position { line: 1, column: 1 };
            }
        }
    }
}

enum Frame {
    Mapping { pending_key: Option<String> },
    Sequence { index: usize },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    path: Vec<String>,
    positions: HashMap<Vec<String>, Position>,
}

impl Collector {
    fn record(&mut self, last: String, mark: Marker) {
        let mut path = self.path.clone();
        path.push(last);
        let position = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        self.positions.entry(path).or_insert(position);
    }

    /// Called when a value starts; returns the path element under which it nests.
    fn start_value(&mut self, mark: Marker) -> Option<String> {
        let element = match self.stack.last() {
            Some(Frame::Mapping {
                pending_key: Some(key),
            }) => Some(key.clone()),
            Some(Frame::Sequence { index }) => Some(index.to_string()),
            _ => None,
        };
        if let (Some(element), Some(Frame::Sequence { .. })) = (&element, self.stack.last()) {
            self.record(element.clone(), mark);
        }
        element
    }

    fn finish_value(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { pending_key }) => *pending_key = None,
            Some(Frame::Sequence { index }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Mapping { pending_key: None }) = self.stack.last() {
                    self.record(value.clone(), mark);
                    if let Some(Frame::Mapping { pending_key }) = self.stack.last_mut() {
                        *pending_key = Some(value);
                    }
                } else {
                    self.start_value(mark);
                    self.finish_value();
                }
            }
            Event::Alias(_) => {
                self.start_value(mark);
                self.finish_value();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if let Some(element) = self.start_value(mark) {
                    self.path.push(element);
                }
                let frame = match event {
                    Event::MappingStart(..) => Frame::Mapping { pending_key: None },
                    _ => Frame::Sequence { index: 0 },
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if !self.stack.is_empty() {
                    self.path.pop();
                    self.finish_value();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_find_nested_keys() {
        let text = "stages:\n  train:\n    kind: train\n    params: {epochs: 4}\n    inputs:\n      - a\n      - b\n";
        let positions = Positions::scan(text);
        assert_eq!(
            positions.of(&["stages", "train"]),
            Position { line: 2, column: 3 }
        );
        assert_eq!(
            positions.of(&["stages", "train", "params", "epochs"]),
            Position {
                line: 4,
                column: 14
            }
        );
        assert_eq!(
            positions.of(&["stages", "train", "inputs", "1"]),
            Position { line: 7, column: 9 }
        );
        assert_eq!(
            positions.of(&["stages", "train", "params", "missing"]),
            Position { line: 4, column: 5 }
        );
    }
}
