package watchdog

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// sleeper starts `sleep 60` in a process group of its own, and a directory
// for the watchdog to remove. The channel closes when sleep has exited
// (and been waited for).
func sleeper(t *testing.T) (*exec.Cmd, string, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	dir := filepath.Join(t.TempDir(), "daemon")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, dir, exited
}

func TestWatchdog(t *testing.T) {
	tests := []struct {
		name  string
		stop  bool // Stop the watchdog rather than end the pipe
		acted bool
	}{
		{name: "pipe ends: the group stops, the directory goes", acted: true},
		{name: "stopped: nothing happens", stop: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, dir, exited := sleeper(t)
			wd, err := Start(cmd.Process.Pid, dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				wd.Stop()
			} else {
				// What the test binary's death does: the write end
				// closes.
				wd.pipe.Close()
				defer wd.cmd.Wait()
			}
			select {
			case <-exited:
				if !tc.acted {
					t.Fatal("the watched process stopped")
				}
			case <-time.After(3 * time.Second):
				if tc.acted {
					t.Fatal("the watched process still runs 3 s after the pipe ended")
				}
				if _, err := os.Stat(dir); err != nil {
					t.Fatalf("a stopped watchdog removed %s: %v", dir, err)
				}
				return
			}
			// The directory goes right after the process is reaped.
			for deadline := time.Now().Add(35 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(dir); os.IsNotExist(err) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still there", dir)
				}
			}
		})
	}
}

// TestOwnerDies: when the process that started the watchdog exits without
// stopping it (here a child running this test binary, which starts a
// watchdog and exits at once), the watched group stops and its directory
// goes.
func TestOwnerDies(t *testing.T) {
	if pgid := os.Getenv("WATCHDOG_TEST_PGID"); pgid != "" {
		// The child: start the watchdog and die without Stop.
		n, _ := strconv.Atoi(pgid)
		if _, err := Start(n, os.Getenv("WATCHDOG_TEST_DIR")); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	cmd, dir, exited := sleeper(t)
	child := exec.Command(os.Args[0], "-test.run=^TestOwnerDies$")
	child.Env = append(os.Environ(), "WATCHDOG_TEST_PGID="+strconv.Itoa(cmd.Process.Pid), "WATCHDOG_TEST_DIR="+dir)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		t.Fatal("the watched process still runs 3 s after its watchdog's owner died")
	}
	for deadline := time.Now().Add(35 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there", dir)
		}
	}
}
