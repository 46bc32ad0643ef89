module github.com/oci-builder/oci-builder

go 1.23.0

require (
	github.com/klauspost/compress v1.18.0
	github.com/nix-community/go-nix v0.0.0-20250101154619-4bdde671e0a1
	github.com/opencontainers/go-digest v1.0.0
	github.com/opencontainers/image-spec v1.1.1
	github.com/opencontainers/runtime-spec v1.3.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	golang.org/x/sys v0.33.0
	golang.org/x/text v0.14.0
)

require github.com/moby/profiles/seccomp v0.3.0
