package dashboard

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// APIKey returns the analytics API key from file (a mounted Secret) or,
// when file is empty, from the environment value env. Errors never quote the key.
func APIKey(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading API key file: %w", err)
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", fmt.Errorf("API key file %s is empty", file)
	}
	if k := strings.TrimSpace(env); k != "" {
		return k, nil
	}
	return "", errors.New("no API key: set --api-key-file or STREAMDASH_API_KEY")
}
