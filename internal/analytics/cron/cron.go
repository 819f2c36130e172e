// Package cron reads the cron strings of scheduled query lambdas as Rockset
// took them, Quartz syntax (seconds first, '?' for "no specific day", an
// optional year, L, W and #), and says when one fires next, in UTC.
package cron

import (
	"fmt"
	"strings"
	"time"

	"github.com/reugn/go-quartz/quartz"
)

// Expr is a parsed cron string.
type Expr struct {
	text    string
	trigger *quartz.CronTrigger
}

// syntax is what the errors show a user who wrote something else.
const syntax = `Quartz syntax: "second minute hour day-of-month month day-of-week [year]", ` +
	`with '?' in one of the day fields (for example "0 0 0 ? * * *" runs daily at midnight UTC, "0 0 * ? * * *" hourly)`

// Parse reads a cron string; the error says what is wrong and what is wanted.
func Parse(s string) (Expr, error) {
	text := strings.Join(strings.Fields(s), " ")
	switch n := len(strings.Fields(text)); {
	case text == "":
		return Expr{}, fmt.Errorf("cron string is empty; want %s", syntax)
	case n == 5 && !strings.HasPrefix(text, "@"):
		return Expr{}, fmt.Errorf("cron string %q has 5 fields, a UNIX crontab line; scheduled lambdas take %s", s, syntax)
	case (n < 6 || n > 7) && !strings.HasPrefix(text, "@"):
		return Expr{}, fmt.Errorf("cron string %q has %d fields; want %s", s, n, syntax)
	}
	t, err := quartz.NewCronTrigger(text)
	if err != nil {
		return Expr{}, fmt.Errorf("cron string %q: %v; want %s", s, err, syntax)
	}
	return Expr{text: text, trigger: t}, nil
}

// String is the cron string as given (runs of spaces made one).
func (e Expr) String() string { return e.text }

// Next is the first time after t at which e fires; false when it never
// fires again (a year field in the past).
func (e Expr) Next(t time.Time) (time.Time, bool) {
	next, err := e.trigger.NextFireTime(t.UnixNano())
	if err != nil { // quartz.ErrTriggerExpired
		return time.Time{}, false
	}
	return time.Unix(0, next).UTC(), true
}
