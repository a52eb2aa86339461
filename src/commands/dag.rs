//! `pipeline dag`: print the stage graph as text, Graphviz dot or Mermaid.

use clap::{Args, ValueEnum};

use crate::options::{load_pipeline, SpecOptions};

#[derive(Args, Debug)]
pub struct DagArgs {
    #[command(flatten)]
    pub spec: SpecOptions,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Dot,
    Mermaid,
}

pub fn run(args: DagArgs) -> anyhow::Result<()> {
    let pipeline = load_pipeline(&args.spec.file, &[])?;
    let edges = edges(&pipeline);
    match args.format {
        Format::Text => {
            for stage in &pipeline.stages {
                let inputs: Vec<String> = stage
                    .inputs
                    .iter()
                    .map(|input| {
                        let sources: Vec<&str> = input
                            .reference
                            .stages()
                            .into_iter()
                            .map(|index| pipeline.stages[index].name.as_str())
                            .collect();
                        format!("{}={}", input.name, sources.join(","))
                    })
                    .collect();
                if inputs.is_empty() {
                    println!("{} ({})", stage.name, stage.kind.name());
                } else {
                    println!(
                        "{} ({}) <- {}",
                        stage.name,
                        stage.kind.name(),
                        inputs.join(" ")
                    );
                }
            }
        }
        Format::Dot => {
            println!("digraph pipeline {{");
            for stage in &pipeline.stages {
                println!(
                    "  \"{}\" [label=\"{}\\n{}\"];",
                    stage.name,
                    stage.name,
                    stage.kind.name()
                );
            }
            for (from, to, input) in &edges {
                println!("  \"{from}\" -> \"{to}\" [label=\"{input}\"];");
            }
            println!("}}");
        }
        Format::Mermaid => {
            println!("graph TD");
            for (index, stage) in pipeline.stages.iter().enumerate() {
                println!("  s{index}[\"{}<br/>{}\"]", stage.name, stage.kind.name());
            }
            for (from, to, input) in &edges {
                let from = pipeline.stage_index(from).unwrap_or_default();
                let to = pipeline.stage_index(to).unwrap_or_default();
                println!("  s{from} -->|{input}| s{to}");
            }
        }
    }
    Ok(())
}

/// (upstream, downstream, input name) for every reference.
fn edges(pipeline: &dag::Pipeline) -> Vec<(String, String, String)> {
    let mut edges = Vec::new();
    for stage in &pipeline.stages {
        for input in &stage.inputs {
            for upstream in input.reference.stages() {
                edges.push((
                    pipeline.stages[upstream].name.clone(),
                    stage.name.clone(),
                    input.name.clone(),
                ));
            }
        }
    }
    edges
}
