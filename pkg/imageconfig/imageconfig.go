// Package imageconfig is the image configuration oci-builder writes and
// reads: image-spec's (v1.Image) with the keys Docker's image
// configuration has beside it in its "config" object (Healthcheck,
// OnBuild, Shell: moby's container.Config, the Docker image specification
// v1.2 and later). dockerTools passes its config argument verbatim into
// the image, so these keys must reach the JSON as Docker names them.
//
// An Image without Docker's keys encodes to the same bytes as the
// v1.Image of the same fields. No I/O (an import test forbids it).
package imageconfig

import (
	"fmt"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is an image configuration: v1.Image's fields, in its order (so
// that its JSON is v1.Image's byte for byte), with Config holding Docker's
// keys too.
type Image struct {
	// Created is the image's creation time.
	Created *time.Time `json:"created,omitempty"`
	// Author is who made the image.
	Author string `json:"author,omitempty"`
	// Platform is the platform the image runs on.
	v1.Platform
	// Config is the execution parameters of a container made from the
	// image.
	Config Config `json:"config,omitempty"`
	// RootFS holds the layers' DiffIDs.
	RootFS v1.RootFS `json:"rootfs"`
	// History describes each layer.
	History []v1.History `json:"history,omitempty"`
}

// Config is the image configuration's "config": image-spec's
// ImageConfig, then the keys only Docker's has.
type Config struct {
	v1.ImageConfig
	// Healthcheck is Docker's health check (the Dockerfile's
	// HEALTHCHECK): Docker runs it in the container; podman too.
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	// OnBuild are the instructions a Dockerfile that starts FROM this
	// image runs first (the Dockerfile's ONBUILD).
	OnBuild []string `json:"OnBuild,omitempty"`
	// Shell is the shell of the shell forms of a Dockerfile's
	// instructions built FROM this image (the Dockerfile's SHELL).
	Shell []string `json:"Shell,omitempty"`
}

// HealthConfig is Docker's health check, with its JSON names. Durations
// are integers of nanoseconds, as Docker writes them; zero means Docker's
// default.
type HealthConfig struct {
	// Test is the check: ["NONE"] disables the base's, ["CMD", args...]
	// runs args, ["CMD-SHELL", command] runs command with the image's
	// shell.
	Test []string `json:",omitempty"`
	// Interval is the time between two checks.
	Interval time.Duration `json:",omitempty"`
	// Timeout is how long a check may run before it counts as failed.
	Timeout time.Duration `json:",omitempty"`
	// StartPeriod is the time the container has to start before failed
	// checks count.
	StartPeriod time.Duration `json:",omitempty"`
	// StartInterval is the time between two checks during StartPeriod.
	StartInterval time.Duration `json:",omitempty"`
	// Retries is how many consecutive failures make the container
	// unhealthy.
	Retries int `json:",omitempty"`
}

// Check refuses a health check that Docker would refuse or misread,
// naming the key: its Test must start with NONE, CMD or CMD-SHELL (and
// give a command after CMD or CMD-SHELL), its durations and Retries must
// not be negative. The Nix library checks the same at evaluation.
func (c *Config) Check() error {
	if h := c.Healthcheck; h != nil {
		if len(h.Test) == 0 {
			return fmt.Errorf("config.Healthcheck.Test is empty: give [\"CMD\", PROGRAM, ARGS...], [\"CMD-SHELL\", COMMAND] or [\"NONE\"]")
		}
		switch h.Test[0] {
		case "NONE":
		case "CMD", "CMD-SHELL":
			if len(h.Test) < 2 {
				return fmt.Errorf("config.Healthcheck.Test is [%q] with no command after it", h.Test[0])
			}
		default:
			return fmt.Errorf("config.Healthcheck.Test starts with %q, not \"NONE\", \"CMD\" or \"CMD-SHELL\"", h.Test[0])
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
			if d.v < 0 {
				return fmt.Errorf("config.Healthcheck.%s is %d: durations are nanoseconds, not negative", d.name, int64(d.v))
			}
		}
		if h.Retries < 0 {
			return fmt.Errorf("config.Healthcheck.Retries is %d, not a count", h.Retries)
		}
	}
	return nil
}
