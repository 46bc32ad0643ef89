package nixdb

import (
	"encoding/binary"
	"fmt"
)

// reader reads back what Build wrote, independently of the writer's page
// layout, and checks the B-trees' structure as it goes: every page used
// once, keys in order, every leaf of a tree at the same depth. The tests
// use it where running sqlite3 would be too slow (the fuzz target); the
// sqlite3 tests are the judge of the format itself.
type reader struct {
	db   []byte
	used map[uint32]string
}

func newReader(db []byte) (*reader, error) {
	if len(db) < PageSize || len(db)%PageSize != 0 {
		return nil, fmt.Errorf("size %d is not a whole number of pages", len(db))
	}
	if string(db[:16]) != "SQLite format 3\x00" {
		return nil, fmt.Errorf("bad magic")
	}
	if n := binary.BigEndian.Uint32(db[28:]); int(n) != len(db)/PageSize {
		return nil, fmt.Errorf("header says %d pages, file has %d", n, len(db)/PageSize)
	}
	return &reader{db: db, used: map[uint32]string{}}, nil
}

func (r *reader) page(pgno uint32, what string) ([]byte, error) {
	if pgno < 1 || int(pgno) > len(r.db)/PageSize {
		return nil, fmt.Errorf("%s: page %d out of range", what, pgno)
	}
	if prev, ok := r.used[pgno]; ok {
		return nil, fmt.Errorf("page %d used twice: %s and %s", pgno, prev, what)
	}
	r.used[pgno] = what
	return r.db[(pgno-1)*PageSize : pgno*PageSize], nil
}

func readVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8 && i < len(b); i++ {
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

// payload reads a cell's payload of total size n at b (its local part
// first), following its overflow pages.
func (r *reader) payload(b []byte, n int, maxLocal int) ([]byte, int, error) {
	if n <= maxLocal {
		if n > len(b) {
			return nil, 0, fmt.Errorf("cell runs off its page")
		}
		return b[:n], n, nil
	}
	local := minLocal + (n-minLocal)%(PageSize-4)
	if local > maxLocal {
		local = minLocal
	}
	out := append([]byte(nil), b[:local]...)
	next := binary.BigEndian.Uint32(b[local:])
	for len(out) < n {
		p, err := r.page(next, "overflow")
		if err != nil {
			return nil, 0, err
		}
		k := min(n-len(out), PageSize-4)
		out = append(out, p[4:4+k]...)
		next = binary.BigEndian.Uint32(p)
	}
	if next != 0 {
		return nil, 0, fmt.Errorf("overflow chain longer than its payload")
	}
	return out, local + 4, nil
}

// cells returns the page's type, its cell offsets and its right child.
func cells(p []byte, pgno uint32) (byte, []int, uint32) {
	off := 0
	if pgno == 1 {
		off = 100
	}
	typ := p[off]
	n := int(binary.BigEndian.Uint16(p[off+3:]))
	hl := headerLen(typ)
	var right uint32
	if hl == 12 {
		right = binary.BigEndian.Uint32(p[off+8:])
	}
	offs := make([]int, n)
	for i := range offs {
		offs[i] = int(binary.BigEndian.Uint16(p[off+hl+2*i:]))
	}
	return typ, offs, right
}

// table reads the rows of the table B-tree at root, in order, and its
// depth.
func (r *reader) table(root uint32) ([]tableRow, int, error) {
	var rows []tableRow
	depth := -1
	var walk func(pgno uint32, d int, lo, hi int64) error
	walk = func(pgno uint32, d int, lo, hi int64) error {
		p, err := r.page(pgno, fmt.Sprintf("table %d", root))
		if err != nil {
			return err
		}
		typ, offs, right := cells(p, pgno)
		switch typ {
		case tableLeaf:
			if depth >= 0 && depth != d {
				return fmt.Errorf("table %d: leaves at depths %d and %d", root, depth, d)
			}
			depth = d
			for _, o := range offs {
				n, k := readVarint(p[o:])
				rowid, k2 := readVarint(p[o+k:])
				pl, _, err := r.payload(p[o+k+k2:], int(n), maxLocalTable)
				if err != nil {
					return err
				}
				if int64(rowid) <= lo || int64(rowid) > hi || len(rows) > 0 && int64(rowid) <= rows[len(rows)-1].rowid {
					return fmt.Errorf("table %d: rowid %d out of order", root, rowid)
				}
				rows = append(rows, tableRow{int64(rowid), pl})
			}
		case tableInterior:
			if len(offs) == 0 {
				return fmt.Errorf("table %d: interior page %d has no cell", root, pgno)
			}
			prev := lo
			for _, o := range offs {
				child := binary.BigEndian.Uint32(p[o:])
				key, _ := readVarint(p[o+4:])
				if err := walk(child, d+1, prev, int64(key)); err != nil {
					return err
				}
				prev = int64(key)
			}
			return walk(right, d+1, prev, hi)
		default:
			return fmt.Errorf("table %d: page %d has type %#x", root, pgno, typ)
		}
		return nil
	}
	err := walk(root, 0, -1<<63, 1<<63-1)
	return rows, depth, err
}

// index reads the keys of the index B-tree at root, in order, and its
// depth.
func (r *reader) index(root uint32) ([][]value, int, error) {
	var keys [][]value
	depth := -1
	add := func(p []byte, o int) error {
		n, k := readVarint(p[o:])
		pl, _, err := r.payload(p[o+k:], int(n), maxLocalIndex)
		if err != nil {
			return err
		}
		key, err := decodeRecord(pl)
		if err != nil {
			return err
		}
		if len(keys) > 0 && compareKeys(keys[len(keys)-1], key) >= 0 {
			return fmt.Errorf("index %d: keys out of order", root)
		}
		keys = append(keys, key)
		return nil
	}
	var walk func(pgno uint32, d int) error
	walk = func(pgno uint32, d int) error {
		p, err := r.page(pgno, fmt.Sprintf("index %d", root))
		if err != nil {
			return err
		}
		typ, offs, right := cells(p, pgno)
		switch typ {
		case indexLeaf:
			if depth >= 0 && depth != d {
				return fmt.Errorf("index %d: leaves at depths %d and %d", root, depth, d)
			}
			depth = d
			for _, o := range offs {
				if err := add(p, o); err != nil {
					return err
				}
			}
		case indexInterior:
			if len(offs) == 0 {
				return fmt.Errorf("index %d: interior page %d has no cell", root, pgno)
			}
			for _, o := range offs {
				if err := walk(binary.BigEndian.Uint32(p[o:]), d+1); err != nil {
					return err
				}
				if err := add(p, o+4); err != nil {
					return err
				}
			}
			return walk(right, d+1)
		default:
			return fmt.Errorf("index %d: page %d has type %#x", root, pgno, typ)
		}
		return nil
	}
	err := walk(root, 0)
	return keys, depth, err
}

// decodeRecord decodes a record of NULLs, integers and text.
func decodeRecord(b []byte) ([]value, error) {
	hl, k := readVarint(b)
	if k == 0 || int(hl) > len(b) {
		return nil, fmt.Errorf("bad record header")
	}
	var types []uint64
	for i := k; i < int(hl); {
		t, n := readVarint(b[i:])
		if n == 0 {
			return nil, fmt.Errorf("bad serial type")
		}
		types = append(types, t)
		i += n
	}
	body := b[hl:]
	var out []value
	for _, t := range types {
		switch {
		case t == 0:
			out = append(out, null())
		case t == 8, t == 9:
			out = append(out, integer(int64(t-8)))
		case t >= 1 && t <= 6:
			n := []int{0, 1, 2, 3, 4, 6, 8}[t]
			if len(body) < n {
				return nil, fmt.Errorf("record body too short")
			}
			var v int64
			if n > 0 && body[0]&0x80 != 0 {
				v = -1
			}
			for _, c := range body[:n] {
				v = v<<8 | int64(c)
			}
			out = append(out, integer(v))
			body = body[n:]
		case t >= 13 && t%2 == 1:
			n := int(t-13) / 2
			if len(body) < n {
				return nil, fmt.Errorf("record body too short")
			}
			out = append(out, text(string(body[:n])))
			body = body[n:]
		default:
			return nil, fmt.Errorf("serial type %d not expected", t)
		}
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%d bytes after the record", len(body))
	}
	return out, nil
}
