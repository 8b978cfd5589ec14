package kernels

import (
	"hash/fnv"
	"math"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels/internal/qgemm"
)

// rng is splitmix64: tiny, fast and good enough for random weights.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a value uniform in [-1, 1).
func (r *rng) uniform() float32 {
	return float32(int64(r.next()>>11))/float32(1<<52) - 1
}

// rowSeed derives the generator state of one row of one tensor, so rows can
// be generated in any order (and in parallel) with identical results.
func rowSeed(seed uint64, name string, row int) rng {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rng(seed ^ h.Sum64() ^ uint64(row)*0x632be59bd9b4e019)
	r.next()
	return r
}

// initKind says how a tensor's values are drawn.
type initKind int

const (
	initLinear initKind = iota // uniform with std 1/sqrt(in)
	initEmbed                  // uniform with std 1
	initNorm                   // 1 ± 0.1
	initConv                   // uniform with std 1/sqrt(taps)
	initBias                   // ± 0.1
	initDtBias                 // softplus⁻¹ of dt in [0.01, 0.1]
	initALog                   // log of A in [1, 16]
	initD                      // D in [0.5, 1.5]
)

// fillRow draws the values of row r of a tensor of the given kind.
func fillRow(dst []float32, kind initKind, seed uint64, name string, r int) {
	g := rowSeed(seed, name, r)
	const sqrt3 = 1.7320508
	switch kind {
	case initLinear, initConv:
		a := sqrt3 / float32(math.Sqrt(float64(len(dst))))
		for i := range dst {
			dst[i] = a * g.uniform()
		}
	case initEmbed:
		for i := range dst {
			dst[i] = sqrt3 * g.uniform()
		}
	case initNorm:
		for i := range dst {
			dst[i] = 1 + 0.1*g.uniform()
		}
	case initBias:
		for i := range dst {
			dst[i] = 0.1 * g.uniform()
		}
	case initDtBias:
		for i := range dst {
			dt := 0.01 + 0.09*(g.uniform()+1)/2
			dst[i] = float32(math.Log(math.Expm1(float64(dt))))
		}
	case initALog:
		for i := range dst {
			dst[i] = float32(math.Log(1 + 15*float64(g.uniform()+1)/2))
		}
	case initD:
		for i := range dst {
			dst[i] = 1 + 0.5*g.uniform()
		}
	}
}

// fillGrain is Model.fillMatrix's chunk of rows: whole tiled groups.
const fillGrain = 4 * qgemm.TileRows

// allocMatrix allocates storage for a [rows, cols] matrix at precision p.
func allocMatrix(rows, cols int, p arch.Precision) *Matrix {
	m := &Matrix{Rows: rows, Cols: cols, Prec: p}
	switch p {
	case arch.F32:
		m.F32 = make([]float32, rows*cols)
	case arch.F16:
		m.F16 = make([]uint16, rows*cols)
	default:
		m.rowBytes = int(p.RowBytes(cols))
		m.Q = make([]byte, rows*m.rowBytes)
		m.tiled = qgemm.Tiled()
	}
	return m
}

// setRow encodes src as row r of m (row-major: a tiled matrix is repacked
// by tile once its rows are set).
func (m *Matrix) setRow(r int, src []float32) {
	c := m.Cols
	switch m.Prec {
	case arch.F32:
		copy(m.F32[r*c:(r+1)*c], src)
	case arch.F16:
		row := m.F16[r*c : (r+1)*c]
		for i, v := range src {
			row[i] = F32ToF16(v)
		}
	case arch.Q8_0:
		QuantizeQ8_0(m.Q[r*m.rowBytes:(r+1)*m.rowBytes], src)
	case arch.Q4_0:
		QuantizeQ4_0(m.Q[r*m.rowBytes:(r+1)*m.rowBytes], src)
	}
}
