# Shared by scripts/demo and scripts/test: make sure this Debian 12 machine
# has what the project needs. Sourced, not run.

# Go lives in /usr/local/go on the project's machines.
case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) PATH="$PATH:/usr/local/go/bin" ;;
esac
export PATH

# ensure_packages installs the Debian packages whose commands are missing
# (apt-get update once, only when something must be installed).
ensure_packages() {
	local missing=()
	command -v nix-build >/dev/null || missing+=(nix-bin)
	command -v runc >/dev/null || missing+=(runc)
	[ -x /bin/busybox ] || missing+=(busybox-static)
	# A static bash: the stand-in nixpkgs' (nix develop's environment script).
	[ -x /bin/bash-static ] || missing+=(bash-static)
	command -v newuidmap >/dev/null || missing+=(uidmap)
	# Image interoperability tests: inspect, copy, unpack, check zstd layers.
	command -v skopeo >/dev/null || missing+=(skopeo)
	command -v umoci >/dev/null || missing+=(umoci)
	command -v zstd >/dev/null || missing+=(zstd)
	# The dockerTools tests load and run images with podman too, and with
	# their own dockerd and containerd (tests/daemons_test.go).
	command -v podman >/dev/null || missing+=(podman)
	command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
	command -v containerd >/dev/null || missing+=(containerd)
	# Registry tests: oci-builder copy pushes to a local CNCF distribution registry.
	command -v docker-registry >/dev/null || missing+=(docker-registry)
	# pkg/nixdb's tests check the Nix databases it writes with SQLite's
	# own integrity check (the host lane only: the trixie lane runs the
	# end-to-end tests, where Nix itself reads them).
	command -v sqlite3 >/dev/null || missing+=(sqlite3)
	# The stand-in nixpkgs' fakeroot and proot (tests/hosttools_test.go),
	# which run dockerTools' shell arguments in the examples' test.
	command -v faked-sysv >/dev/null || missing+=(fakeroot)
	command -v proot >/dev/null || missing+=(proot)
	# The benchmark's image comparison.
	command -v pigz >/dev/null || missing+=(pigz)
	command -v mkfs.xfs >/dev/null || [ -x /usr/sbin/mkfs.xfs ] || [ -x /sbin/mkfs.xfs ] || missing+=(xfsprogs)
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "missing ${missing[*]}: run as root to install them" >&2
			return 1
		fi
		echo "installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	if ! command -v go >/dev/null; then
		echo "go not found (expected in /usr/local/go/bin)" >&2
		return 1
	fi
}

# nix_offline: options for builds on machines without a binary cache.
NIX_OFFLINE=(--option substituters '')
