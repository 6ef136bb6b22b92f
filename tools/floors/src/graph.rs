//! The import graph between the files of one crate target, its cycles and its floors.

use std::collections::BTreeMap;

use crate::modtree::Tree;
use crate::resolve::resolve;

/// Imports between files: `(from, to)` with one path that makes the edge, as written.
#[derive(Debug, Default)]
pub struct Graph {
    pub edges: BTreeMap<(usize, usize), String>,
    pub files: usize,
}

impl Graph {
    pub fn build(tree: &Tree) -> Graph {
        let mut graph = Graph {
            files: tree.files.len(),
            ..Graph::default()
        };
        for r in tree.references.iter().filter(|r| !r.reexport) {
            let from = tree.modules[r.module].file;
            if let Some(to) = resolve(tree, r.module, &r.segments).file(tree)
                && to != from
            {
                graph
                    .edges
                    .entry((from, to))
                    .or_insert_with(|| r.segments.join("::"));
            }
        }
        graph
    }

    fn successors(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges
            .range((from, 0)..(from + 1, 0))
            .map(|((_, to), _)| *to)
    }

    /// Strongly connected components of more than one file (Tarjan), each sorted.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut state = Tarjan {
            index: vec![None; self.files],
            low: vec![0; self.files],
            on_stack: vec![false; self.files],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..self.files {
            if state.index[v].is_none() {
                state.connect(self, v);
            }
        }
        state.out.retain(|c| c.len() > 1);
        for c in &mut state.out {
            c.sort_unstable();
        }
        state.out.sort();
        state.out
    }

    /// Floor of each file: 0 when it imports no other file of the crate, else one above the
    /// highest file it imports. Only meaningful without cycles.
    pub fn floors(&self) -> Vec<usize> {
        let mut floor: Vec<Option<usize>> = vec![None; self.files];
        fn visit(g: &Graph, v: usize, floor: &mut Vec<Option<usize>>, depth: usize) -> usize {
            if let Some(f) = floor[v] {
                return f;
            }
            if depth > g.files {
                return 0;
            }
            let succ: Vec<usize> = g.successors(v).collect();
            let f = succ
                .into_iter()
                .map(|s| visit(g, s, floor, depth + 1) + 1)
                .max()
                .unwrap_or(0);
            floor[v] = Some(f);
            f
        }
        (0..self.files)
            .map(|v| visit(self, v, &mut floor, 0))
            .collect()
    }
}

struct Tarjan {
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    out: Vec<Vec<usize>>,
}

impl Tarjan {
    fn connect(&mut self, g: &Graph, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        let succ: Vec<usize> = g.successors(v).collect();
        for w in succ {
            match self.index[w] {
                None => {
                    self.connect(g, w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.out.push(component);
        }
    }
}
