//! The parquet table of a bank: one row per mask with the parameters that made it.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListBuilder, RecordBatch, StringArray,
    StructBuilder, UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Schema, UInt32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{MaskError, MaskRecord, Preset, Rect, Scheme};

const RECT_FIELDS: [&str; 4] = ["top", "left", "bottom", "right"];

fn rect_fields() -> Fields {
    RECT_FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::UInt32, false))
        .collect()
}

/// Writes `records` to the parquet file at `path`.
pub(crate) fn write_table(path: &Path, records: &[MaskRecord]) -> Result<(), MaskError> {
    let batch = to_batch(records).map_err(|error| MaskError::table(path, error))?;
    let file = File::create(path).map_err(|source| MaskError::io(path, source))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|error| MaskError::table(path, error))?;
    writer
        .write(&batch)
        .map_err(|error| MaskError::table(path, error))?;
    writer
        .close()
        .map_err(|error| MaskError::table(path, error))?;
    Ok(())
}

fn to_batch(records: &[MaskRecord]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let rect_type = DataType::Struct(rect_fields());
    let mut rects = ListBuilder::new(StructBuilder::from_fields(rect_fields(), 0))
        .with_field(Field::new("item", rect_type, false));
    for record in records {
        let values = rects.values();
        for rect in &record.rects {
            let sides = [rect.top, rect.left, rect.bottom, rect.right];
            for (position, side) in sides.into_iter().enumerate() {
                values
                    .field_builder::<UInt32Builder>(position)
                    .expect("rect fields are UInt32")
                    .append_value(side);
            }
            values.append(true);
        }
        rects.append(true);
    }

    let columns: Vec<(&str, ArrayRef, bool)> = vec![
        (
            "index",
            Arc::new(UInt32Array::from_iter_values(
                records.iter().map(|r| r.index),
            )),
            false,
        ),
        (
            "file",
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| &r.file),
            )),
            false,
        ),
        (
            "scheme",
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.scheme.name()),
            )),
            false,
        ),
        (
            "coverage",
            Arc::new(Float64Array::from_iter_values(
                records.iter().map(|r| r.coverage),
            )),
            false,
        ),
        (
            "scale",
            Arc::new(Float64Array::from_iter(records.iter().map(|r| r.scale))),
            true,
        ),
        (
            "radius",
            Arc::new(Float64Array::from_iter(records.iter().map(|r| r.radius))),
            true,
        ),
        (
            "preset",
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.preset.map(Preset::name)),
            )),
            true,
        ),
        (
            "full",
            Arc::new(BooleanArray::from_iter(records.iter().map(|r| r.full))),
            true,
        ),
        (
            "target_rects",
            Arc::new(UInt32Array::from_iter(
                records.iter().map(|r| r.target_rects),
            )),
            true,
        ),
        (
            "summed_area",
            Arc::new(Float64Array::from_iter(
                records.iter().map(|r| r.summed_area),
            )),
            true,
        ),
        ("rects", Arc::new(rects.finish()), false),
        (
            "source",
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.source.as_deref()),
            )),
            true,
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array, nullable)| Field::new(*name, array.data_type().clone(), *nullable))
        .collect();
    let arrays = columns.into_iter().map(|(_, array, _)| array).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Reads the records of the parquet file at `path`.
pub(crate) fn read_table(path: &Path) -> Result<Vec<MaskRecord>, MaskError> {
    let file = File::open(path).map_err(|source| MaskError::io(path, source))?;
    let invalid = |reason: String| {
        MaskError::table(
            path,
            format!("{reason}; make the bank again with `pipeline masks`"),
        )
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|error| invalid(error.to_string()))?;
    let mut records = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|error| invalid(error.to_string()))?;
        records.extend(from_batch(&batch).map_err(invalid)?);
    }
    Ok(records)
}

fn from_batch(batch: &RecordBatch) -> Result<Vec<MaskRecord>, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("column `{name}` is missing"))
    };
    let wrong_type = |name: &str| format!("column `{name}` has the wrong type");

    let index = column("index")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| wrong_type("index"))?;
    let file = column("file")?
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type("file"))?;
    let scheme = column("scheme")?
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type("scheme"))?;
    let coverage = column("coverage")?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| wrong_type("coverage"))?;
    let scale = column("scale")?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| wrong_type("scale"))?;
    let radius = column("radius")?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| wrong_type("radius"))?;
    let preset = column("preset")?
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type("preset"))?;
    let full = column("full")?
        .as_boolean_opt()
        .ok_or_else(|| wrong_type("full"))?;
    let target_rects = column("target_rects")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| wrong_type("target_rects"))?;
    let summed_area = column("summed_area")?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| wrong_type("summed_area"))?;
    let rects = column("rects")?
        .as_list_opt::<i32>()
        .ok_or_else(|| wrong_type("rects"))?;
    let source = column("source")?
        .as_string_opt::<i32>()
        .ok_or_else(|| wrong_type("source"))?;

    let optional_f64 = |array: &arrow::array::Float64Array, row: usize| {
        array.is_valid(row).then(|| array.value(row))
    };
    let optional_str =
        |array: &StringArray, row: usize| array.is_valid(row).then(|| array.value(row).to_string());

    let mut records = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let scheme = parse_scheme(scheme.value(row))?;
        let preset = match optional_str(preset, row) {
            None => None,
            Some(name) => Some(parse_preset(&name)?),
        };
        records.push(MaskRecord {
            index: index.value(row),
            file: file.value(row).to_string(),
            scheme,
            coverage: coverage.value(row),
            scale: optional_f64(scale, row),
            radius: optional_f64(radius, row),
            preset,
            full: full.is_valid(row).then(|| full.value(row)),
            target_rects: target_rects.is_valid(row).then(|| target_rects.value(row)),
            summed_area: optional_f64(summed_area, row),
            rects: read_rects(&rects.value(row))?,
            source: optional_str(source, row),
        });
    }
    Ok(records)
}

fn read_rects(array: &ArrayRef) -> Result<Vec<Rect>, String> {
    let rects = array
        .as_struct_opt()
        .ok_or_else(|| "column `rects` does not hold structs".to_string())?;
    let mut sides = Vec::with_capacity(RECT_FIELDS.len());
    for name in RECT_FIELDS {
        let side = rects
            .column_by_name(name)
            .and_then(|column| column.as_primitive_opt::<UInt32Type>())
            .ok_or_else(|| format!("rectangle field `{name}` is missing or not UInt32"))?;
        sides.push(side);
    }
    Ok((0..rects.len())
        .map(|row| Rect {
            top: sides[0].value(row),
            left: sides[1].value(row),
            bottom: sides[2].value(row),
            right: sides[3].value(row),
        })
        .collect())
}

fn parse_scheme(name: &str) -> Result<Scheme, String> {
    name.parse().map_err(|error: MaskError| error.to_string())
}

fn parse_preset(name: &str) -> Result<Preset, String> {
    name.parse().map_err(|error: MaskError| error.to_string())
}
