package layer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/oci-builder/oci-builder/internal/deflate"
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
//     as `zstd -d` and every OCI runtime read it. 8 MiB frames are as
//     small as the size allows (on GOROOT: 0.1 % smaller than one
//     `zstd -3` stream, 4 MiB frames 0.4 % bigger, 32 MiB 0.2 % smaller),
//     for 4 times as many blocks as 32 MiB frames gave to share out.
const (
	gzipBlockSize = 1 << 20
	gzipDictSize  = 32 << 10
	zstdBlockSize = 8 << 20
)

// Pool bounds the goroutines compressing the blocks of the layers that
// share it: a big layer uses them all, several layers share them. It also
// keeps the block buffers and deflate compressors of finished blocks for
// the next ones: a fresh compressor or buffer costs more to allocate and
// zero (and to fault in) than its block costs to copy. Block buffers are
// kept for the pool's lifetime (never more than were in use at once), and
// those of a huge page or more are allocated in transparent huge pages
// where the kernel grants them (see blockBuffer).
type Pool struct {
	slots chan struct{}
	// hugePage is the size of the huge pages blockBuffer advises, or 0
	// for none (hugePageSize).
	hugePage int
	mu       sync.Mutex
	// free holds the buffers given back, by capacity. Not a sync.Pool,
	// which drops what it holds at every garbage collection: a buffer
	// made again lands in reused heap memory, which Go zeroes (faulting
	// it in in small pages) before it can be advised.
	free map[int][][]byte
	// lazy and huffman hold the deflate compressors given back: gzip
	// blocks' *deflate.Writer and *flate.Writer at flate.HuffmanOnly.
	lazy, huffman sync.Pool
}

// NewPool makes a pool of workers goroutines (at least one).
func NewPool(workers int) *Pool {
	if workers < 1 {
		workers = 1
	}
	return &Pool{
		slots:    make(chan struct{}, workers),
		hugePage: hugePageSize(os.Getenv, os.ReadFile),
		free:     map[int][][]byte{},
	}
}

// minPooled is the capacity from which buffers are recycled: smaller ones
// are those of small layers, which never fill a block.
const minPooled = 1 << 20

// buffer returns an empty buffer of capacity size.
func (p *Pool) buffer(size int) []byte {
	if size < minPooled {
		return make([]byte, 0, size)
	}
	p.mu.Lock()
	if free := p.free[size]; len(free) > 0 {
		b := free[len(free)-1]
		p.free[size] = free[:len(free)-1]
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	return blockBuffer(size, p.hugePage)
}

// recycle keeps b for buffer.
func (p *Pool) recycle(b []byte) {
	if cap(b) < minPooled {
		return
	}
	p.mu.Lock()
	if p.free == nil {
		p.free = map[int][][]byte{}
	}
	p.free[cap(b)] = append(p.free[cap(b)], b)
	p.mu.Unlock()
}

// outputBound is the capacity given to a block's output: more than a
// block of n bytes compresses to with deflate or zstd, incompressible
// data included, so that it never grows while compressing.
func outputBound(n int) int { return n + n/64 + 1024 }

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
	// for the final block, which may be empty. pool may be used for
	// scratch state.
	compress(pool *Pool, dst, dict, p []byte, last bool) ([]byte, error)
	// dictSize is how many bytes before a block compress wants as dict.
	dictSize() int
	// update sees the stream's bytes, in order (on the goroutine that
	// writes the compressed blocks, not the one that writes the stream).
	update(p []byte)
	// trailer is written after the last block.
	trailer() []byte
}

// blockResult is a compressed block, or why it is not, and the block.
type blockResult struct {
	in, data []byte
	err      error
}

// parallelWriter compresses what it is given with codec into dest, blocks
// compressed on pool. The uncompressed bytes go to tap too, in order: tap
// and the codec's update run on the goroutine writing to dest, so that
// hashing the stream takes no time from the goroutine producing it.
type parallelWriter struct {
	dest  io.Writer
	tap   io.Writer
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

func newParallelWriter(dest, tap io.Writer, pool *Pool, codec blockCodec) (*parallelWriter, error) {
	if pool == nil {
		pool = NewPool(1)
	}
	w := &parallelWriter{
		dest:      dest,
		tap:       tap,
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
		if w.failed() == nil {
			err := r.err
			if err == nil {
				w.codec.update(r.in)
				_, err = w.tap.Write(r.in)
			}
			if err == nil {
				_, err = w.dest.Write(r.data)
			}
			if err != nil {
				w.fail(err)
			}
		}
		w.pool.recycle(r.in)
		w.pool.recycle(r.data)
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

// lend returns the unused part of the current block's buffer, once the
// layer is known to be big (whole-block buffers): a Write of a prefix of
// it takes the bytes where they are.
func (w *parallelWriter) lend() []byte {
	if !w.full {
		return nil
	}
	if w.buf == nil {
		w.buf = w.pool.buffer(w.codec.blockSize())
	}
	return w.buf[len(w.buf):w.codec.blockSize()]
}

func (w *parallelWriter) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	size := w.codec.blockSize()
	if w.buf != nil && len(p) > 0 && len(p) <= size-len(w.buf) && cap(w.buf) >= size &&
		&w.buf[:len(w.buf)+1][len(w.buf)] == &p[0] {
		// Read into what lend returned: already in place.
		w.buf = w.buf[:len(w.buf)+len(p)]
		if len(w.buf) == size {
			w.dispatch(false)
		}
		return n, nil
	}
	for len(p) > 0 {
		if w.buf == nil {
			if w.full {
				w.buf = w.pool.buffer(size)
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
			w.buf = append(w.pool.buffer(size), w.buf...)
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
		// The block's buffer goes back to the pool once collect has
		// seen it, the output's once collect has written it.
		out, err := w.codec.compress(w.pool, w.pool.buffer(outputBound(cap(block))), dict, block, last)
		res <- blockResult{block, out, err}
	}()
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

// gzipCodec is pigz's scheme, in blocks of block bytes, each deflated
// with the previous 32 KiB as dictionary.
type gzipCodec struct {
	block int
	crc   uint32
	size  uint32
}

// gzipParams are the deflate matcher's limits for gzip layers: (lazy,
// nice, chain) = (16, 32, 48), between klauspost's levels 7 (12, 16, 24)
// and 8 (30, 40, 64). klauspost's level 6, a faster matcher of its own,
// made ELF binaries 3.8 % and source text 3.5 % bigger than `gzip -6`;
// these limits make every kind of content of the compression corpus
// within 2 % (ELF +1.8 %, source +0.7 %), for 1.77 (ELF) and 2.31
// (source) times level 6's CPU time where level 8 takes 2.00 and 2.70
// (docs/benchmark.md).
var gzipParams = deflate.Params{Lazy: 16, Nice: 32, Chain: 48}

func (*gzipCodec) header() []byte {
	// Magic, deflate, no flags, mtime 0, no extra flags, OS "unknown"
	// (255): the header says nothing about the machine that wrote it.
	return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
}

func (g *gzipCodec) blockSize() int { return g.block }
func (*gzipCodec) dictSize() int    { return gzipDictSize }

func (g *gzipCodec) compress(pool *Pool, dst, dict, p []byte, last bool) ([]byte, error) {
	out, err := deflateBlock(pool, dst, dict, p, last)
	if err != nil || len(p) < minRetried || len(out)-len(dst) <= len(p)/2 {
		return out, err
	}
	// A block that compressed to more than half of its size has few
	// matches worth their codes (base64 or hexadecimal text, say): the
	// matcher's few short matches cost more than Huffman coding alone
	// saves (hexadecimal text: 5 % smaller Huffman-only). Such blocks are
	// deflated again Huffman-only and the smaller kept: the choice depends
	// only on the block, and ordinary content is compressed once.
	again, err := huffmanBlock(pool, pool.buffer(outputBound(len(p))), p, last)
	if err != nil {
		return nil, err
	}
	if len(again) < len(out)-len(dst) {
		out = append(out[:len(dst)], again...)
	}
	pool.recycle(again)
	return out, nil
}

// minRetried is the size from which gzip blocks are deflated again
// Huffman-only when the first try compressed them poorly (see
// gzipCodec.compress).
const minRetried = 4 << 10

// deflateBlock appends p deflated with gzipParams and dict to dst, ending
// with a sync flush, or with the final block when last is set.
func deflateBlock(pool *Pool, dst, dict, p []byte, last bool) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	fw, ok := pool.lazy.Get().(*deflate.Writer)
	if ok {
		fw.ResetDict(buf, dict)
	} else {
		var err error
		if fw, err = deflate.NewWriterDict(buf, gzipParams, dict); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	defer pool.lazy.Put(fw)
	return finishBlock(buf, fw, p, last)
}

// huffmanBlock appends p Huffman-coded (no matches, hence no dictionary)
// to dst, as deflateBlock.
func huffmanBlock(pool *Pool, dst, p []byte, last bool) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	fw, ok := pool.huffman.Get().(*flate.Writer)
	if ok {
		fw.Reset(buf)
	} else {
		var err error
		if fw, err = flate.NewWriter(buf, flate.HuffmanOnly); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	defer pool.huffman.Put(fw)
	return finishBlock(buf, fw, p, last)
}

// finishBlock writes p to fw, which writes to buf, and ends the block with
// a sync flush or, when last is set, the final block.
func finishBlock(buf *bytes.Buffer, fw interface {
	io.WriteCloser
	Flush() error
}, p []byte, last bool) ([]byte, error) {
	if _, err := fw.Write(p); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	var err error
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

// zstdCodec makes one frame of block bytes per block.
type zstdCodec struct{ block int }

// zstdEncoder is shared by every layer: EncodeAll is safe for concurrent
// use, and its output depends only on its input.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstdLevel),
		zstd.WithEncoderCRC(true),
		// Entropy-code the literals of blocks in which no match was
		// found, as C zstd does: klauspost's default at this level
		// stores them raw, which leaves base64 text a third bigger than
		// `zstd -3` makes it.
		zstd.WithAllLitEntropyCompression(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
})

func (*zstdCodec) header() []byte   { return nil }
func (z *zstdCodec) blockSize() int { return z.block }
func (*zstdCodec) dictSize() int    { return 0 }
func (*zstdCodec) update([]byte)    {}
func (*zstdCodec) trailer() []byte  { return nil }

func (*zstdCodec) compress(_ *Pool, dst, _, p []byte, _ bool) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(p) == 0 {
		return enc.EncodeAll(p, dst), nil
	}
	// Runs of zeros (holes of sparse files, preallocated files) of at
	// least zeroRunBlocks aligned blocks get a frame of their own, of RLE
	// blocks, as C zstd codes them (4 bytes a block); klauspost's encoder
	// codes each block of a run as a compressed block of one sequence,
	// about 14 bytes. The rest goes to the encoder as before.
	start := 0
	for off := 0; off+zstdMaxBlock <= len(p); {
		if !allZero(p[off : off+zstdMaxBlock]) {
			off += zstdMaxBlock
			continue
		}
		end := off + zstdMaxBlock
		for end+zstdMaxBlock <= len(p) && allZero(p[end:end+zstdMaxBlock]) {
			end += zstdMaxBlock
		}
		if end-off >= zeroRunBlocks*zstdMaxBlock {
			if off > start {
				dst = enc.EncodeAll(p[start:off], dst)
			}
			dst = appendZeroFrame(dst, end-off)
			start = end
		}
		off = end
	}
	if start < len(p) {
		dst = enc.EncodeAll(p[start:], dst)
	}
	return dst, nil
}

const (
	// zstdMaxBlock is zstd's largest block (Block_Maximum_Size).
	zstdMaxBlock = 128 << 10
	// zeroRunBlocks is the shortest run of zero blocks given a frame of
	// its own: below it, the frame that the run splits in two costs more
	// than the RLE blocks save.
	zeroRunBlocks = 4
)

// allZero tells whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 32 {
		if binary.LittleEndian.Uint64(b)|binary.LittleEndian.Uint64(b[8:])|
			binary.LittleEndian.Uint64(b[16:])|binary.LittleEndian.Uint64(b[24:]) != 0 {
			return false
		}
		b = b[32:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendZeroFrame appends a zstd frame (RFC 8878) of n zero bytes, n a
// multiple of zstdMaxBlock below 4 GiB: a single-segment frame header with
// the content size, then one RLE block of zeros per zstdMaxBlock, the last
// one marked last. No content checksum (it is optional; the layer's digest
// covers every byte).
func appendZeroFrame(dst []byte, n int) []byte {
	// Magic number; Frame_Header_Descriptor: Frame_Content_Size_flag 2
	// (4 bytes), Single_Segment_flag, no checksum, no dictionary.
	dst = append(dst, 0x28, 0xb5, 0x2f, 0xfd, 0x2<<6|1<<5)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	for n > 0 {
		size := min(n, zstdMaxBlock)
		n -= size
		// Block_Header, 3 bytes: Last_Block, Block_Type 1 (RLE),
		// Block_Size (the bytes the block regenerates).
		h := uint32(size)<<3 | 1<<1
		if n == 0 {
			h |= 1
		}
		dst = append(dst, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return dst
}
