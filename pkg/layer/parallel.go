package layer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// Intra-layer parallel compression. A layer's tar is cut into blocks of a
// fixed size, the blocks are compressed on the goroutines of a Pool and
// their outputs written in order. What a block compresses to depends only on
// its bytes and on the bytes before it (never on the number of workers or
// on scheduling), so a layer's digest is the same with 1 or 64 workers:
//
//   - gzip, in the pigz style: each block of gzipBlockSize is deflated
//     with the last 32 KiB of the previous block as dictionary and ended
//     with a sync flush (the last one with the final block), and the
//     deflate streams are concatenated after one gzip header and before one
//     trailer (CRC-32 and size of the whole tar): one ordinary gzip member.
//   - zstd: each block of zstdBlockSize is one independent zstd frame
//     (with its checksum); concatenated frames are one valid zstd stream,
//     as `zstd -d` and every OCI runtime read it.
const (
	gzipBlockSize = 1 << 20
	gzipDictSize  = 32 << 10
	zstdBlockSize = 32 << 20
)

// Pool bounds the goroutines compressing the blocks of the layers that
// share it: a big layer uses them all, several layers share them.
type Pool struct{ slots chan struct{} }

// NewPool makes a pool of workers goroutines (at least one).
func NewPool(workers int) *Pool {
	if workers < 1 {
		workers = 1
	}
	return &Pool{slots: make(chan struct{}, workers)}
}

// Workers is the number of goroutines of the pool.
func (p *Pool) Workers() int { return cap(p.slots) }

// blockCodec compresses a stream block by block.
type blockCodec interface {
	// header is written before the first block.
	header() []byte
	// blockSize is the size of every block but the last.
	blockSize() int
	// compress appends block p, compressed, to dst. dict holds the bytes
	// of the stream just before p (up to the codec's need); last is set
	// for the final block, which may be empty.
	compress(dst, dict, p []byte, last bool) ([]byte, error)
	// dictSize is how many bytes before a block compress wants as dict.
	dictSize() int
	// update sees the stream's bytes, in order.
	update(p []byte)
	// trailer is written after the last block.
	trailer() []byte
}

// blockResult is a compressed block, or why it is not.
type blockResult struct {
	data []byte
	err  error
}

// parallelWriter compresses what it is given with codec into dest, blocks
// compressed on pool.
type parallelWriter struct {
	dest  io.Writer
	pool  *Pool
	codec blockCodec
	buf   []byte
	dict  []byte
	// full is set once a block was dispatched: the layer is big, and
	// its next blocks get whole buffers from blockBuffers.
	full bool
	// pending holds the results of the dispatched blocks, in order; its
	// capacity bounds the blocks of this writer held in memory.
	pending   chan chan blockResult
	collected chan struct{}
	mu        sync.Mutex
	err       error
}

func newParallelWriter(dest io.Writer, pool *Pool, codec blockCodec) (*parallelWriter, error) {
	if pool == nil {
		pool = NewPool(1)
	}
	w := &parallelWriter{
		dest:      dest,
		pool:      pool,
		codec:     codec,
		pending:   make(chan chan blockResult, pool.Workers()+1),
		collected: make(chan struct{}),
	}
	if h := codec.header(); len(h) > 0 {
		if _, err := dest.Write(h); err != nil {
			return nil, err
		}
	}
	go w.collect()
	return w, nil
}

// collect writes the blocks' results in order.
func (w *parallelWriter) collect() {
	defer close(w.collected)
	for res := range w.pending {
		r := <-res
		if w.failed() != nil {
			continue
		}
		err := r.err
		if err == nil {
			_, err = w.dest.Write(r.data)
		}
		if err != nil {
			w.fail(err)
		}
	}
}

func (w *parallelWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *parallelWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *parallelWriter) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	w.codec.update(p)
	n := len(p)
	size := w.codec.blockSize()
	for len(p) > 0 {
		if w.buf == nil {
			if w.full {
				w.buf = getBlockBuffer(size)
			} else {
				// Grown as needed: a small layer never holds a whole
				// block.
				w.buf = make([]byte, 0, min(size, max(len(p), 64<<10)))
			}
		}
		k := min(size-len(w.buf), len(p))
		if len(w.buf)+k > cap(w.buf) && cap(w.buf) >= 1<<20 {
			// A big layer after all: one copy into a whole block's
			// buffer rather than doubling up to it.
			w.buf = append(getBlockBuffer(size), w.buf...)
		}
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == size {
			w.dispatch(false)
		}
	}
	return n, nil
}

// dispatch sends the current block to the pool.
func (w *parallelWriter) dispatch(last bool) {
	block, dict := w.buf, w.dict
	if ds := w.codec.dictSize(); ds > 0 {
		// The next block's dictionary: the tail of this one, preceded if
		// this one is short by the tail of the previous one.
		// Copied: the block's buffer is reused once it is compressed.
		keep := max(0, ds-len(block))
		next := append([]byte(nil), dict[max(0, len(dict)-keep):]...)
		w.dict = append(next, block[max(0, len(block)-ds):]...)
	}
	w.buf = nil
	w.full = true
	res := make(chan blockResult, 1)
	w.pending <- res
	w.pool.slots <- struct{}{}
	go func() {
		defer func() { <-w.pool.slots }()
		out, err := w.codec.compress(nil, dict, block, last)
		putBlockBuffer(block)
		res <- blockResult{out, err}
	}()
}

// blockBuffers recycles the buffers of whole blocks, by capacity.
var blockBuffers sync.Map

func getBlockBuffer(size int) []byte {
	if p, ok := blockBuffers.Load(size); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, size)
}

func putBlockBuffer(b []byte) {
	if cap(b) != gzipBlockSize && cap(b) != zstdBlockSize {
		return
	}
	p, _ := blockBuffers.LoadOrStore(cap(b), &sync.Pool{})
	p.(*sync.Pool).Put(&b)
}

// Close compresses the last block, waits for every block to be written
// and writes the codec's trailer.
func (w *parallelWriter) Close() error {
	if w.failed() == nil {
		w.dispatch(true)
	}
	close(w.pending)
	<-w.collected
	if err := w.failed(); err != nil {
		return err
	}
	if t := w.codec.trailer(); len(t) > 0 {
		if _, err := w.dest.Write(t); err != nil {
			return err
		}
	}
	return nil
}

// gzipCodec is pigz's scheme with klauspost's deflate at gzipLevel.
type gzipCodec struct {
	crc  uint32
	size uint32
}

func (*gzipCodec) header() []byte {
	// Magic, deflate, no flags, mtime 0, no extra flags, OS "unknown"
	// (255): the header says nothing about the machine that wrote it.
	return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
}

func (*gzipCodec) blockSize() int { return gzipBlockSize }
func (*gzipCodec) dictSize() int  { return gzipDictSize }

func (*gzipCodec) compress(dst, dict, p []byte, last bool) ([]byte, error) {
	if dst == nil {
		dst = make([]byte, 0, len(p)/2+1024)
	}
	buf := bytes.NewBuffer(dst)
	fw, err := flate.NewWriterDict(buf, gzipLevel, dict)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := fw.Write(p); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if last {
		err = fw.Close()
	} else {
		err = fw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func (g *gzipCodec) update(p []byte) {
	g.crc = crc32.Update(g.crc, crc32.IEEETable, p)
	g.size += uint32(len(p))
}

func (g *gzipCodec) trailer() []byte {
	t := make([]byte, 8)
	binary.LittleEndian.PutUint32(t, g.crc)
	binary.LittleEndian.PutUint32(t[4:], g.size)
	return t
}

// zstdCodec makes one frame per block.
type zstdCodec struct{}

// zstdEncoder is shared by every layer: EncodeAll is safe for concurrent
// use, and its output depends only on its input.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstdLevel),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
})

func (*zstdCodec) header() []byte  { return nil }
func (*zstdCodec) blockSize() int  { return zstdBlockSize }
func (*zstdCodec) dictSize() int   { return 0 }
func (*zstdCodec) update([]byte)   {}
func (*zstdCodec) trailer() []byte { return nil }

func (*zstdCodec) compress(dst, _, p []byte, _ bool) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if dst == nil {
		// Room for incompressible data: no growth while encoding.
		dst = make([]byte, 0, len(p)+len(p)/64+1024)
	}
	return enc.EncodeAll(p, dst), nil
}
