//! A strided read-only matrix: how every product here names its operands without copying them.

/// Element (i, j) sits at `data[offset + i·row_stride + j·col_stride]`. Lets attention multiply
/// one head's columns out of a `[rows, heads·d]` block, and a transposed operand be read in place.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A dense row-major `[rows, cols]` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            offset: 0,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// One past the largest index the view reaches (0 when empty).
    pub fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }

    /// Columns `first .. first + count` (no data moves): one head's slice of a projection.
    pub fn columns(self, first: usize, count: usize) -> Self {
        assert!(
            first + count <= self.cols,
            "columns {first}..{} of {}",
            first + count,
            self.cols
        );
        Self {
            offset: self.offset + first * self.col_stride,
            cols: count,
            ..self
        }
    }

    /// Rows `first .. first + count` (no data moves): one sequence's rows of a batch.
    pub fn row_slice(self, first: usize, count: usize) -> Self {
        assert!(
            first + count <= self.rows,
            "rows {first}..{} of {}",
            first + count,
            self.rows
        );
        Self {
            offset: self.offset + first * self.row_stride,
            rows: count,
            ..self
        }
    }

    /// The same matrix transposed (no data moves).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}
