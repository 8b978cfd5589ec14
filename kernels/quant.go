package kernels

import (
	"fmt"
	"math"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels/internal/asm"
	"github.com/hilsearch/hilsearch/kernels/internal/qgemm"
)

// Sizes of the llama.cpp block formats.
const (
	// QK is the number of weights in one q8_0 or q4_0 block.
	QK = asm.QK
	// Q8Bytes is the size of one q8_0 block: an f16 scale and 32 int8.
	Q8Bytes = asm.Q8Bytes
	// Q4Bytes is the size of one q4_0 block: an f16 scale and 16 bytes of
	// nibbles (low nibble = weight j, high nibble = weight j+16).
	Q4Bytes = asm.Q4Bytes
)

// F32ToF16 encodes f as IEEE half precision (round to nearest even).
func F32ToF16(f float32) uint16 { return asm.F32ToF16(f) }

// F16ToF32 decodes an IEEE half-precision value.
func F16ToF32(h uint16) float32 { return asm.F16Table[h] }

// QuantizeQ8_0 encodes src (a multiple of 32 values) as q8_0 blocks into
// dst (34 bytes per block): scale d = max|x|/127 stored as f16, q =
// round(x/d) with the unrounded d.
func QuantizeQ8_0(dst []byte, src []float32) {
	nb := len(src) / QK
	for b := 0; b < nb; b++ {
		x := src[b*QK : (b+1)*QK]
		o := dst[b*Q8Bytes : (b+1)*Q8Bytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		h := asm.F32ToF16(d)
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for i, v := range x {
			o[2+i] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

// QuantizeQ4_0 encodes src (a multiple of 32 values) as q4_0 blocks into
// dst (18 bytes per block): with m the value of largest magnitude, scale
// d = m/-8 (f16), nibble = clamp(round(x/d)+8, 0, 15).
func QuantizeQ4_0(dst []byte, src []float32) {
	nb := len(src) / QK
	for b := 0; b < nb; b++ {
		x := src[b*QK : (b+1)*QK]
		o := dst[b*Q4Bytes : (b+1)*Q4Bytes]
		var m, amax float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		d := m / -8
		h := asm.F32ToF16(d)
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for j := 0; j < QK/2; j++ {
			lo := min(15, max(0, int(math.Floor(float64(x[j]*id)+8.5))))
			hi := min(15, max(0, int(math.Floor(float64(x[j+QK/2]*id)+8.5))))
			o[2+j] = byte(lo) | byte(hi)<<4
		}
	}
}

// DequantizeRow decodes row r of m into dst (len ≥ m.Cols).
func (m *Matrix) DequantizeRow(dst []float32, r int) {
	dst = dst[:m.Cols]
	switch m.Prec {
	case arch.F32:
		copy(dst, m.F32[r*m.Cols:(r+1)*m.Cols])
	case arch.F16:
		f16Row(dst, m.F16[r*m.Cols:(r+1)*m.Cols])
	case arch.Q8_0:
		for b := 0; b < m.Cols/QK; b++ {
			h, q := qgemm.Block(m.Q, Q8Bytes, m.Rows, m.Cols, r, b, m.tiled)
			d := asm.F16Table[h]
			for i := 0; i < QK; i++ {
				dst[b*QK+i] = d * float32(int8(q[i]))
			}
		}
	case arch.Q4_0:
		for b := 0; b < m.Cols/QK; b++ {
			h, q := qgemm.Block(m.Q, Q4Bytes, m.Rows, m.Cols, r, b, m.tiled)
			d := asm.F16Table[h]
			for j := 0; j < QK/2; j++ {
				dst[b*QK+j] = d * float32(int(q[j]&15)-8)
				dst[b*QK+j+QK/2] = d * float32(int(q[j]>>4)-8)
			}
		}
	}
}

// qRow returns row r of the q8_0 or q4_0 matrix m in llama.cpp's row
// layout: a slice of m.Q, or, when m is tiled, the row gathered into buf
// (rowBytes).
func (m *Matrix) qRow(r int, buf []byte) []byte {
	if !m.tiled {
		return m.Q[r*m.rowBytes : (r+1)*m.rowBytes]
	}
	bs := Q4Bytes
	if m.Prec == arch.Q8_0 {
		bs = Q8Bytes
	}
	buf = buf[:m.rowBytes]
	for b := 0; b < m.Cols/QK; b++ {
		h, q := qgemm.Block(m.Q, bs, m.Rows, m.Cols, r, b, true)
		buf[b*bs], buf[b*bs+1] = byte(h), byte(h>>8)
		copy(buf[b*bs+2:(b+1)*bs], q[:])
	}
	return buf
}

// tile repacks rows [lo, hi) of a q8_0 or q4_0 matrix into qgemm's tiled
// layout where this CPU's loops read it (m.tiled); lo is a multiple of
// qgemm.TileRows and hi one too or m.Rows, and those rows are set.
func (m *Matrix) tile(lo, hi int) {
	if !m.tiled {
		return
	}
	bs := Q4Bytes
	if m.Prec == arch.Q8_0 {
		bs = Q8Bytes
	}
	qgemm.Repack(m.Q[lo*m.rowBytes:hi*m.rowBytes], bs, hi-lo, m.Cols)
}

// Matrix is a weight matrix [Rows, Cols], row-major, in one precision.
// Exactly one of F32, F16 and Q holds the data.
type Matrix struct {
	Rows, Cols int
	Prec       arch.Precision
	F32        []float32
	F16        []uint16
	Q          []byte
	rowBytes   int
	// tiled: a q8_0 or q4_0 matrix stored in qgemm's tiled layout
	// (qgemm.Repack: groups of 16 rows interleaved per block, the rows
	// past the last group row-major), chosen at build where the AVX-512
	// VNNI loops run (qgemm.Tiled); the size is unchanged.
	tiled bool
}

// NewMatrix encodes src ([rows·cols] f32, row-major) in precision p.
// Block formats need cols to be a multiple of 32.
func NewMatrix(rows, cols int, p arch.Precision, src []float32) (*Matrix, error) {
	if len(src) != rows*cols {
		return nil, fmt.Errorf("matrix %dx%d: got %d values", rows, cols, len(src))
	}
	m := &Matrix{Rows: rows, Cols: cols, Prec: p}
	switch p {
	case arch.F32:
		m.F32 = append([]float32(nil), src...)
	case arch.F16:
		m.F16 = make([]uint16, len(src))
		for i, v := range src {
			m.F16[i] = asm.F32ToF16(v)
		}
	case arch.Q8_0, arch.Q4_0:
		if cols%QK != 0 {
			return nil, fmt.Errorf("matrix %dx%d: %s needs cols a multiple of %d", rows, cols, p, QK)
		}
		m.rowBytes = int(p.RowBytes(cols))
		m.Q = make([]byte, rows*m.rowBytes)
		for r := 0; r < rows; r++ {
			dst := m.Q[r*m.rowBytes : (r+1)*m.rowBytes]
			if p == arch.Q8_0 {
				QuantizeQ8_0(dst, src[r*cols:(r+1)*cols])
			} else {
				QuantizeQ4_0(dst, src[r*cols:(r+1)*cols])
			}
		}
		m.tiled = qgemm.Tiled()
		m.tile(0, rows)
	default:
		return nil, fmt.Errorf("matrix: unknown precision %q", p)
	}
	return m, nil
}

// Bytes returns the storage size of the matrix data.
func (m *Matrix) Bytes() int64 {
	return int64(len(m.F32))*4 + int64(len(m.F16))*2 + int64(len(m.Q))
}

func (m *Matrix) quantised() bool { return m.Prec == arch.Q8_0 || m.Prec == arch.Q4_0 }
