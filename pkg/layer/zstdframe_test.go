package layer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdFrame is what walkZstdFrames reads of one frame's header and blocks.
type zstdFrame struct {
	// raw is the whole frame.
	raw []byte
	// contentSize is Frame_Content_Size, or -1 when the header has none.
	contentSize int64
	checksum    bool
	// blockTypes counts the blocks by Block_Type (raw, RLE, compressed).
	blockTypes [3]int
	// zeroRLE tells whether every block is an RLE block of zeros.
	zeroRLE bool
}

// walkZstdFrames splits a zstd stream into its frames, checking each
// header and block header against RFC 8878: the magic number, the reserved
// bit, a window descriptor unless single-segment (whose window is the
// content size), Block_Type 3 never used, every block within
// Block_Maximum_Size (the smaller of the window and 128 KiB), the last
// block, and only it, marked last, a checksum when the header says so, and
// in a frame of raw and RLE blocks only, the content size their sizes add
// up to.
func walkZstdFrames(data []byte) ([]zstdFrame, error) {
	var frames []zstdFrame
	for off := 0; off < len(data); {
		start := off
		fail := func(format string, a ...any) ([]zstdFrame, error) {
			return nil, fmt.Errorf("frame %d at %d: %s", len(frames), start, fmt.Sprintf(format, a...))
		}
		if len(data)-off < 6 || binary.LittleEndian.Uint32(data[off:]) != 0xfd2fb528 {
			return fail("no zstd magic number")
		}
		fhd := data[off+4]
		off += 5
		fcsFlag, single, reserved, check, dictFlag := fhd>>6, fhd>>5&1 == 1, fhd>>3&1, fhd>>2&1 == 1, fhd&3
		if reserved != 0 {
			return fail("reserved bit set in the frame header descriptor %#x", fhd)
		}
		var window int64
		if !single {
			wd := data[off]
			off++
			exp, mant := int64(wd>>3), int64(wd&7)
			base := int64(1) << (10 + exp)
			window = base + base/8*mant
		}
		off += []int{0, 1, 2, 4}[dictFlag]
		fcsSize := []int{0, 2, 4, 8}[fcsFlag]
		if fcsFlag == 0 && single {
			fcsSize = 1
		}
		if off+fcsSize > len(data) {
			return fail("truncated header")
		}
		contentSize := int64(-1)
		switch fcsSize {
		case 1:
			contentSize = int64(data[off])
		case 2:
			contentSize = int64(binary.LittleEndian.Uint16(data[off:])) + 256
		case 4:
			contentSize = int64(binary.LittleEndian.Uint32(data[off:]))
		case 8:
			contentSize = int64(binary.LittleEndian.Uint64(data[off:]))
		}
		off += fcsSize
		if single {
			window = contentSize
		}
		maxBlock := min(window, 128<<10)
		f := zstdFrame{contentSize: contentSize, checksum: check, zeroRLE: true}
		var regenerated int64
		for last := false; !last; {
			if off+3 > len(data) {
				return fail("truncated block header")
			}
			h := uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16
			off += 3
			last = h&1 == 1
			typ, size := h>>1&3, int64(h>>3)
			if typ == 3 {
				return fail("reserved block type")
			}
			if size > maxBlock {
				return fail("block of type %d, size %d, over Block_Maximum_Size %d", typ, size, maxBlock)
			}
			content := size
			if typ == 1 {
				content = 1
			}
			if int64(off)+content > int64(len(data)) {
				return fail("truncated block")
			}
			if typ != 1 || data[off] != 0 {
				f.zeroRLE = false
			}
			if typ != 2 {
				regenerated += size
			}
			f.blockTypes[typ]++
			off += int(content)
		}
		if check {
			off += 4
		}
		if off > len(data) {
			return fail("truncated checksum")
		}
		if f.blockTypes[2] == 0 && contentSize >= 0 && regenerated != contentSize {
			return fail("blocks regenerate %d bytes, the header says %d", regenerated, contentSize)
		}
		f.raw = data[start:off]
		frames = append(frames, f)
	}
	return frames, nil
}

// TestZstdFrames writes adversarial layouts of zeros through the zstd
// codec (not a tar: the stream's bytes are the test's, so that the runs
// fall exactly where it says relative to the 8 MiB frames and the 128 KiB
// blocks) and checks, with 1 and 4 workers and with writes of odd sizes:
// the same bytes every time; frames that follow RFC 8878 (walkZstdFrames);
// the number of frames of zeros coded as RLE blocks and the bytes they
// hold; every frame's content size the bytes klauspost decodes it to; and
// the whole stream decoded back by klauspost's reader (which checks the
// encoder's frame checksums) and by `zstd -d`.
func TestZstdFrames(t *testing.T) {
	const (
		blk   = zstdMaxBlock
		frame = zstdBlockSize
	)
	rng := rand.New(rand.NewSource(22))
	noise := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	zeros := func(n int) []byte { return make([]byte, n) }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// poke sets byte i of a copy of b to 1.
	poke := func(b []byte, i ...int) []byte {
		b = append([]byte(nil), b...)
		for _, k := range i {
			b[k] = 1
		}
		return b
	}
	// textN is n bytes of compressible text.
	textN := func(n int) []byte {
		line := []byte("a store path, a layer, a frame\n")
		return bytes.Repeat(line, n/len(line)+1)[:n]
	}
	tests := []struct {
		name string
		data []byte
		// zeroFrames are the sizes of the frames of RLE zeros, in order.
		zeroFrames []int
	}{
		{"one byte", []byte{0}, nil},
		{"3 blocks of zeros", zeros(3 * blk), nil},
		{"4 blocks less one byte", zeros(4*blk - 1), nil},
		{"exactly 4 blocks (512 KiB)", zeros(4 * blk), []int{4 * blk}},
		{"4 blocks and a byte", zeros(4*blk + 1), []int{4 * blk}},
		{"exactly one frame of zeros (8 MiB)", zeros(frame), []int{frame}},
		{"one frame of zeros and a byte", zeros(frame + 1), []int{frame}},
		{"three frames of zeros and 5 bytes", zeros(3*frame + 5), []int{frame, frame, frame}},
		{"a byte at the start", poke(zeros(frame), 0), []int{frame - blk}},
		{"a byte at the end of the frame", poke(zeros(frame), frame-1), []int{frame - blk}},
		{"a byte at the end of the first block", poke(zeros(frame), blk-1), []int{frame - blk}},
		{"bytes at offsets 31, 32, 33 and -31 of blocks", poke(zeros(frame), 31, 5*blk+32, 10*blk+33, 20*blk+blk-31), []int{4 * blk, 4 * blk, 9 * blk, 43 * blk}},
		{"the run at the start", join(zeros(6*blk), textN(blk+3)), []int{6 * blk}},
		{"the run at the end", join(textN(blk*2), zeros(frame-2*blk)), []int{frame - 2*blk}},
		{"the run unaligned", join(textN(100), zeros(5*blk)), []int{4 * blk}},
		{"runs of 4 between noise", join(noise(blk), zeros(4*blk), noise(blk), zeros(4*blk), noise(3)), []int{4 * blk, 4 * blk}},
		{"runs of 3 between noise", join(noise(blk), zeros(3*blk), noise(blk), zeros(3*blk+blk-1), noise(3)), nil},
		{"a run across frames", join(textN(frame-blk*5), zeros(blk*9), textN(7)), []int{5 * blk, 4 * blk}},
		{"a run across frames, 3 blocks on each side", join(noise(frame-blk*3), zeros(blk*6), noise(7)), nil},
		{"ending at a frame boundary (empty last block)", join(noise(frame-blk*4), zeros(blk*4)), []int{4 * blk}},
		{"noise, then a whole frame of zeros, at the boundary", join(noise(frame), zeros(frame)), []int{frame}},
	}
	first := map[string][]byte{}
	for _, run := range []struct{ workers, chunk int }{{1, 1 << 20}, {4, 1 << 20}, {4, 4099}, {2, 7 << 20}} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%d workers, writes of %d", tc.name, run.workers, run.chunk), func(t *testing.T) {
				var out bytes.Buffer
				l, err := compressedWith(&out, Zstd, &zstdCodec{block: zstdBlockSize}, NewPool(run.workers), func(w io.Writer) (Stats, error) {
					for p := tc.data; len(p) > 0; {
						n := min(run.chunk, len(p))
						if _, err := w.Write(p[:n]); err != nil {
							return Stats{}, err
						}
						p = p[n:]
					}
					return Stats{}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if l.TarSize != int64(len(tc.data)) || l.Size != int64(out.Len()) {
					t.Fatalf("layer of %d bytes from %d bytes, written %d", l.Size, l.TarSize, out.Len())
				}
				f, ok := first[tc.name]
				if !ok {
					// The first run's stream is checked; the others must
					// be the same bytes.
					first[tc.name] = out.Bytes()
					checkZstdStream(t, out.Bytes(), tc.data, tc.zeroFrames)
					return
				}
				if !bytes.Equal(f, out.Bytes()) {
					t.Fatalf("%d bytes, not the %d bytes of the first run", out.Len(), len(f))
				}
			})
		}
	}
}

// checkZstdStream checks a stream of the zstd codec: frames as RFC 8878
// says (walkZstdFrames), those of zeros as listed, each frame's content
// size what it decodes to, and the stream decoded back to data by
// klauspost's reader and by zstd -d.
func checkZstdStream(t *testing.T, stream, data []byte, zeroFrames []int) {
	t.Helper()
	frames, err := walkZstdFrames(stream)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var zeroSizes []int
	for i, f := range frames {
		got, err := dec.DecodeAll(f.raw, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.contentSize >= 0 && f.contentSize != int64(len(got)) {
			t.Fatalf("frame %d: content size %d, decodes to %d bytes", i, f.contentSize, len(got))
		}
		// The encoder's frames have checksums, the codec's own frames
		// of zeros none; but for the empty last block (the stream's size
		// a multiple of the codec's block), whose frame klauspost's
		// encoder writes with no block content and no checksum.
		if f.contentSize == 0 {
			if i != len(frames)-1 || len(data)%zstdBlockSize != 0 {
				t.Fatalf("frame %d of %d is empty", i, len(frames))
			}
			continue
		}
		if !f.checksum {
			if !f.zeroRLE || f.contentSize < 0 {
				t.Fatalf("frame %d without a checksum: blocks %v, content size %d, not RLE zeros", i, f.blockTypes, f.contentSize)
			}
			zeroSizes = append(zeroSizes, int(f.contentSize))
		}
	}
	if fmt.Sprint(zeroSizes) != fmt.Sprint(zeroFrames) && !(len(zeroSizes) == 0 && len(zeroFrames) == 0) {
		t.Fatalf("frames of RLE zeros of %v bytes, want %v", zeroSizes, zeroFrames)
	}
	zr, err := zstd.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("klauspost's reader: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("klauspost's reader gives %d bytes, not the %d written", len(got), len(data))
	}
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Logf("zstd not found: not checked with it")
		return
	}
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = bytes.NewReader(stream)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zstd -d: %v: %s", err, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), data) {
		t.Fatalf("zstd -d gives %d bytes, not the %d written", stdout.Len(), len(data))
	}
}
