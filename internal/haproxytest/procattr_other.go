//go:build !linux

package haproxytest

import "os/exec"

func setProcAttr(*exec.Cmd) {}
