package twitterpipeline

import "time"

// Requeue intervals while work is under way.
const (
	waitStream     = 2 * time.Second
	waitCollection = 3 * time.Second
	waitDeletion   = time.Second
)
