package cron

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string // "" for a valid string; else a part of the error
	}{
		{"daily, as the client's suite writes it", "0 0 0 ? * * *", ""},
		{"hourly, as the Terraform provider's tests write it", "0 0 * ? * * *", ""},
		{"six fields, no year", "0 15 10 ? * MON-FRI", ""},
		{"every five minutes", "0 0/5 * * * ?", ""},
		{"last day of the month", "0 15 10 L * ?", ""},
		{"third Friday", "0 15 10 ? * 6#3", ""},
		{"extra spaces", "  0  0 0 ? * *  ", ""},
		{"empty", "", "empty"},
		{"UNIX crontab line", "* * * * *", "5 fields, a UNIX crontab line"},
		{"too many fields", "0 0 0 ? * * * *", "8 fields"},
		{"too few fields", "0 0", "2 fields"},
		{"second out of range", "60 0 0 ? * *", "0 0 0 ? * * *"},
		{"both day fields", "0 0 0 1 * MON", "day field"},
		{"not a number", "0 x 0 ? * *", "cron string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tc.in, err)
				}
				if e.String() != strings.Join(strings.Fields(tc.in), " ") {
					t.Errorf("String() = %q", e.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, expr, after string
		want              string // "" when it never fires again
	}{
		{"daily at midnight", "0 0 0 ? * * *", "2026-11-30T10:00:00Z", "2026-12-01T00:00:00Z"},
		{"strictly after: a fire time itself is not next", "0 0 0 ? * * *", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"},
		{"hourly", "0 0 * ? * * *", "2026-11-30T10:59:59Z", "2026-11-30T11:00:00Z"},
		{"every minute, mid-second", "0 * * ? * *", "2026-11-30T10:00:30.5Z", "2026-11-30T10:01:00Z"},
		{"day-of-week counts Sunday as 1 (Quartz), so 2 is Monday", "0 0 9 ? * 2", "2026-11-30T10:00:00Z", "2026-12-07T09:00:00Z"},
		{"last day of February in a leap year", "0 0 0 L 2 ?", "2028-01-15T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"a year field in the past never fires", "0 0 0 ? * * 2020", "2026-11-30T10:00:00Z", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := e.Next(at(tc.after))
			if tc.want == "" {
				if ok {
					t.Fatalf("Next = %v, want never", got)
				}
				return
			}
			if !ok || !got.Equal(at(tc.want)) {
				t.Fatalf("Next(%s) = %v %v, want %s", tc.after, got, ok, tc.want)
			}
		})
	}
}

// FuzzParse: any string either parses to an expression whose next fire
// time is after the given time, or is refused with an error; never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 0 0 ? * * *", "* * * * *", "0 15 10 ? * 6#3", "0 0 0 L-2 * ?", "@daily"} {
		f.Add(s)
	}
	from := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		if next, ok := e.Next(from); ok && !next.After(from) {
			t.Fatalf("%q: next %v is not after %v", s, next, from)
		}
	})
}
