package main

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/keys"
)

// serveFileConfig is the part of sluss's configuration file that serve
// reads.
type serveFileConfig struct {
	Keys    keys.Config    `yaml:"keys"`
	Gateway gateway.Config `yaml:"gateway"`
}

func loadServeConfig(path string) (*serveFileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	var fc serveFileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", path, err)
	}
	return &fc, nil
}
