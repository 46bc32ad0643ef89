package flatten

import (
	"fmt"

	"github.com/oci-builder/oci-builder/pkg/outside"
)

// Image applies the layers of im, verified (outside.Image.Verify), into
// a new tree whose data spool in dir.
func Image(im *outside.Image, dir string, limits Limits) (*Tree, error) {
	t, err := New(dir, limits)
	if err != nil {
		return nil, err
	}
	for i, l := range im.Layers {
		if err := t.applyLayer(im, i); err != nil {
			t.Close()
			return nil, fmt.Errorf("image %s: layer %d (%s): %w", im.Path, i+1, l.File, err)
		}
	}
	return t, nil
}

func (t *Tree) applyLayer(im *outside.Image, i int) error {
	rc, err := im.OpenLayerTar(i)
	if err != nil {
		return err
	}
	defer rc.Close()
	return t.Apply(rc)
}
