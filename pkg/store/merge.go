package store

// Merge returns the union of graphs, in storeDir (taken from the entries when
// empty). A path listed by several graphs keeps the entry of the first one.
// A single graph already in storeDir is returned as it is; otherwise the
// union is checked as NewGraph checks its entries, so graphs in different
// store directories, or whose paths share a hash part, do not merge.
func Merge(graphs []*Graph, storeDir string) (*Graph, error) {
	if len(graphs) == 1 && (storeDir == "" || graphs[0].storeDir == storeDir) {
		return graphs[0], nil
	}
	var infos []PathInfo
	seen := map[string]bool{}
	for _, g := range graphs {
		for _, p := range g.Paths() {
			if !seen[p] {
				seen[p] = true
				infos = append(infos, *g.infos[p])
			}
		}
	}
	return NewGraph(infos, storeDir)
}
