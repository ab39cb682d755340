//! The [`Transformer`]: the tables of a run and the transforms computed over them, all lazy,
//! each registered under its name for the transforms after it.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::checks::check;
use crate::error::{Error, polars_message};
use crate::scan::Table;
use crate::spec::ChecksSpec;
use crate::steps::{self, Ctx};
use crate::transform::{Transform, TransformKind};

/// Holds the tables of a run and the transforms computed over them, all lazy.
pub struct Transformer {
    ctx: SQLContext,
    frames: HashMap<String, LazyFrame>,
    /// Tables and transforms computed once and held (see [`Transformer::hold`]).
    held: HashSet<String>,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("tables", &self.frames.keys())
            .finish_non_exhaustive()
    }
}

impl Default for Transformer {
    fn default() -> Self {
        Self::new()
    }
}

impl Transformer {
    pub fn new() -> Self {
        Self {
            ctx: SQLContext::new(),
            frames: HashMap::new(),
            held: HashSet::new(),
        }
    }

    /// Makes a staged table available under its name.
    pub fn add_table(&mut self, table: &Table) -> Result<(), Error> {
        self.add_frame(&table.name, table.scan()?)
    }

    /// Makes an existing frame available under `name` (tests, and tables from elsewhere).
    pub fn add_frame(&mut self, name: &str, frame: LazyFrame) -> Result<(), Error> {
        if self.frames.contains_key(name) {
            return Err(Error::DuplicateName {
                name: name.to_owned(),
            });
        }
        self.ctx.register(name, frame.clone());
        self.frames.insert(name.to_owned(), frame);
        Ok(())
    }

    /// Plans a transform and registers its result under its name. Its columns are resolved
    /// now, so a wrong column fails here, named after the transform.
    pub fn run(&mut self, transform: &Transform) -> Result<(), Error> {
        let name = transform.name.as_str();
        let frame = match &transform.kind {
            TransformKind::Sql(sql) => {
                let sql_error = |e: PolarsError| Error::Sql {
                    transform: name.to_owned(),
                    message: polars_message(&e),
                };
                let mut frame = self.ctx.execute(sql).map_err(sql_error)?;
                frame.collect_schema().map_err(sql_error)?;
                frame
            }
            TransformKind::Steps { from, steps } => {
                let ctx = Ctx {
                    frames: &self.frames,
                };
                let start = ctx.table(from).map_err(|message| Error::Step {
                    transform: name.to_owned(),
                    position: 0,
                    step: "from",
                    message,
                })?;
                steps::apply(name, start, steps, &ctx)?
            }
        };
        self.add_frame(name, frame)
    }

    /// Runs data checks on a table or transform.
    pub fn check(&self, name: &str, checks: &ChecksSpec) -> Result<(), Error> {
        let frame = self
            .frame(name)
            .ok_or_else(|| Error::Check(format!("no table `{name}` to check")))?;
        check(name, &frame, checks)
    }

    /// The lazy frame of a table or transform.
    pub fn frame(&self, name: &str) -> Option<LazyFrame> {
        self.frames.get(name).cloned()
    }

    /// Computes a table or transform now and holds the result, so that every later reader
    /// (checks, outputs) reads it instead of computing it again from the staged tables: a
    /// lazy frame is a plan, and each `collect` of it runs the whole plan. Returns whether
    /// it was computed now (`false`: already held). Transforms planned before keep their own
    /// plans.
    pub fn hold(&mut self, name: &str) -> Result<bool, Error> {
        if self.held.contains(name) {
            return Ok(false);
        }
        let frame = self.collect(name)?.lazy();
        self.ctx.register(name, frame.clone());
        self.frames.insert(name.to_owned(), frame);
        self.held.insert(name.to_owned());
        Ok(true)
    }

    /// Collects a table or transform; errors are attributed to `name`.
    pub fn collect(&self, name: &str) -> Result<DataFrame, Error> {
        let frame = self.frame(name).ok_or_else(|| Error::Sql {
            transform: name.to_owned(),
            message: "no such table or transform".into(),
        })?;
        frame.collect().map_err(|e| Error::Sql {
            transform: name.to_owned(),
            message: polars_message(&e),
        })
    }

    /// A table or transform as a stream of frames of up to `rows` rows each, in order,
    /// computed by polars' streaming engine on a thread of its own while the caller consumes
    /// them: one batch waits at a time, so the whole output is never in memory at once.
    /// Dropping the [`Batches`] stops the computation at its next batch.
    pub fn batches(&self, name: &str, rows: usize) -> Result<Batches, Error> {
        let sql_error = |e: PolarsError| Error::Sql {
            transform: name.to_owned(),
            message: polars_message(&e),
        };
        let mut frame = self.frame(name).ok_or_else(|| Error::Sql {
            transform: name.to_owned(),
            message: "no such table or transform".into(),
        })?;
        let schema = frame.collect_schema().map_err(sql_error)?;
        let (send, recv) = std::sync::mpsc::sync_channel::<PolarsResult<DataFrame>>(1);
        let failed = send.clone();
        let plan = frame
            .sink_batches(
                PlanCallback::new(move |df: DataFrame| {
                    // `true` stops the query: nobody is reading any more.
                    Ok(send.send(Ok(df)).is_err())
                }),
                true,
                std::num::NonZeroUsize::new(rows.max(1)),
            )
            .map_err(sql_error)?;
        std::thread::Builder::new()
            .name(format!("etl-batches-{name}"))
            .spawn(move || {
                if let Err(e) = plan.collect_with_engine(Engine::Streaming) {
                    let _ = failed.send(Err(e));
                }
            })
            .map_err(|e| Error::Sql {
                transform: name.to_owned(),
                message: format!("cannot start computing the output: {e}"),
            })?;
        Ok(Batches {
            name: name.to_owned(),
            schema,
            recv,
        })
    }
}

/// The frames of a table or transform, from [`Transformer::batches`].
#[derive(Debug)]
pub struct Batches {
    name: String,
    schema: SchemaRef,
    recv: std::sync::mpsc::Receiver<PolarsResult<DataFrame>>,
}

impl Batches {
    /// The columns every batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

impl Iterator for Batches {
    type Item = Result<DataFrame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.recv.recv().ok()?;
        Some(next.map_err(|e| Error::Sql {
            transform: self.name.clone(),
            message: polars_message(&e),
        }))
    }
}
