package s3test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// awsPath is the Debian AWS CLI v2. An older v1 is often earlier on PATH
// (pyenv, pip), and it signs and uploads differently, so it is not looked up.
const awsPath = "/usr/bin/aws"

// Clients are the paths of the real S3 clients the end-to-end tests drive.
type Clients struct {
	AWS    string // AWS CLI v2 (Debian's awscli)
	S3cmd  string
	Rclone string
}

// FindClients finds the AWS CLI v2, s3cmd and rclone, and skips the test
// (fails it when CI or SLUSS_REQUIRE_S3 is set) if one is missing.
func FindClients(t testing.TB) Clients {
	t.Helper()
	c := Clients{AWS: awsPath}
	out, err := exec.Command(awsPath, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/2.") {
		missing(t, awsPath+" is not the AWS CLI v2; run ./test.sh, which installs Debian's awscli")
	}
	for _, f := range []struct {
		name string
		path *string
	}{{"s3cmd", &c.S3cmd}, {"rclone", &c.Rclone}} {
		p, err := exec.LookPath(f.name)
		if err != nil {
			missing(t, f.name+" not found on PATH; run ./test.sh, which installs it")
		}
		*f.path = p
	}
	return c
}

// CleanEnv is an environment for a client process that holds nothing from
// the developer's own: PATH, a HOME of its own (so no ~/.aws, ~/.s3cfg or
// rclone.conf is read), the AWS CLI's config and credentials files pointed
// at nothing, and no proxy, CA bundle or AWS_*, RCLONE_* variable. The test
// appends what the client should see, such as AWS_ACCESS_KEY_ID.
func CleanEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LANG=C.UTF-8",
		"AWS_CONFIG_FILE=" + home + "/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE=" + home + "/aws-credentials",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"RCLONE_CONFIG=" + home + "/rclone.conf",
	}
}
