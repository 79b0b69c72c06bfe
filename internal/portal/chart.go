package portal

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// chart is a bar chart of attempts by outcome, drawn as SVG by the
// template: one bar per hour or day, success stacked on failure.
type chart struct {
	Bars          []bar
	Success, Fail int64
	// Width and Height are the SVG's viewBox.
	Width, Height int
}

type bar struct {
	Label         string
	Success, Fail int64
	// X, W and the two segments' Y and H, in viewBox units.
	X, W, SY, SH, FY, FH int
}

const chartHeight = 80

// newChart lays out counts (success, fail) per bucket.
func newChart(labels []string, counts [][2]int64) chart {
	c := chart{Height: chartHeight}
	var top int64 = 1
	for _, n := range counts {
		top = max(top, n[0]+n[1])
		c.Success += n[0]
		c.Fail += n[1]
	}
	const bw, gap = 10, 2
	for i, n := range counts {
		sh := int(n[0] * chartHeight / top)
		fh := int(n[1] * chartHeight / top)
		if n[0] > 0 && sh == 0 {
			sh = 1
		}
		if n[1] > 0 && fh == 0 {
			fh = 1
		}
		b := bar{Label: labels[i], Success: n[0], Fail: n[1], X: i * (bw + gap), W: bw}
		b.FY, b.FH = chartHeight-fh, fh
		b.SY, b.SH = b.FY-sh, sh
		c.Bars = append(c.Bars, b)
	}
	c.Width = len(counts)*(bw+gap) - gap
	return c
}

// dayChart is the last 24 hours, hour by hour, the current hour last.
func dayChart(hours []store.EndpointHour, now time.Time) chart {
	first := store.HourOf(now).Add(-23 * time.Hour)
	labels := make([]string, 24)
	counts := make([][2]int64, 24)
	for i := range labels {
		labels[i] = first.Add(time.Duration(i)*time.Hour).Format("15:00") + " UTC"
	}
	for _, h := range hours {
		if i := int(h.Hour.Sub(first) / time.Hour); i >= 0 && i < 24 {
			counts[i][0] += h.Success
			counts[i][1] += h.Fail
		}
	}
	return newChart(labels, counts)
}

// weekChart is the last 7 days (UTC), day by day, today last.
func weekChart(hours []store.EndpointHour, now time.Time) chart {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.Add(-6 * 24 * time.Hour)
	labels := make([]string, 7)
	counts := make([][2]int64, 7)
	for i := range labels {
		labels[i] = first.Add(time.Duration(i) * 24 * time.Hour).Format("Mon 2 Jan")
	}
	for _, h := range hours {
		if i := int(h.Hour.Sub(first) / (24 * time.Hour)); h.Hour.Sub(first) >= 0 && i < 7 {
			counts[i][0] += h.Success
			counts[i][1] += h.Fail
		}
	}
	return newChart(labels, counts)
}
