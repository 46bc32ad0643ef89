package watchdog

import (
	"os"
	"os/exec"
	"path/filepath"
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
