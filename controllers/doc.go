// Package controllers holds streamdash's reconcilers, one subpackage per kind:
// twitterpipeline and livedashboard. Shared status and event reporting lives
// in controllers/status.
package controllers
