"""Inline SVG charts drawn directly: matplotlib's SVG backend costs 40-80 ms a panel, this ~1 ms (bench_report.py).

Long series are downsampled by keeping each bucket's min and max (spikes survive) and a marker for each
bucket's first NaN / +Inf / -Inf (breakage survives). Every text placed in an SVG goes through `escape`;
callers mark the returned string safe only because it was built here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from markupsafe import escape

from posthoc.signal import bucket_extremes

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; lines also differ by dash
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
DASHES = ("", "6 3", "2 2", "8 3 2 3", "", "6 3", "2 2")
SPAN_FILL = {"critical": "#D55E00", "warning": "#E69F00", "info": "#999999"}
WORD = {"nan": "NaN", "posinf": "+Inf", "neginf": "-Inf"}


@dataclass(frozen=True)
class Points:
    """A series ready to draw: finite points kept (in step order) and the stretches of non-finite values."""

    steps: np.ndarray
    values: np.ndarray
    breaks: np.ndarray  # True where a non-finite value lies between this point and the previous one
    bad: dict  # "nan" | "posinf" | "neginf" → (first steps, last steps) of each stretch, at most one per bucket


def downsample(steps: np.ndarray, values: np.ndarray, buckets: int = 400) -> Points:
    """At most ~2 points per bucket: the bucket's min and max in step order; NaN/±Inf stretches kept."""
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    n = len(values)
    keep = np.flatnonzero(finite) if n <= 2 * buckets else bucket_extremes(values, buckets)
    bad_before = np.cumsum(~finite)
    breaks = np.zeros(len(keep), dtype=bool)
    if len(keep) > 1:
        breaks[1:] = bad_before[keep[1:]] - bad_before[keep[:-1]] > 0
    kinds = {"nan": np.isnan(values), "posinf": values == np.inf, "neginf": values == -np.inf}
    return Points(steps[keep], values[keep], breaks, {k: _stretches(steps, m, buckets) for k, m in kinds.items()})


def _stretches(steps: np.ndarray, mask: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last step of each run of True; when there are more runs than buckets, one per bucket."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if len(starts) > buckets:
        bucket = starts * buckets // max(len(mask), 1)
        first = np.flatnonzero(np.diff(np.concatenate([[-1], bucket])) != 0)
        last = np.concatenate([first[1:] - 1, [len(starts) - 1]])
        starts, ends = starts[first], ends[last]
    return steps[starts], steps[ends]


@dataclass(frozen=True)
class Scale:
    """A value axis; `log` axes hold log10 of the values."""

    low: float
    high: float
    log: bool

    def transform(self, values: np.ndarray) -> np.ndarray:
        return np.log10(np.maximum(values, 10.0**self.low)) if self.log else values

    def ticks(self, most: int = 5) -> list[tuple[float, str]]:
        """(position in axis units, label) pairs: decades on log axes, 1-2-5 steps on linear ones."""
        if self.log:
            # every 1, 2, 5, 10, 20, 50… decades, aligned on multiples: 1e0, 1e50, 1e100, never 1e-11, 1e56
            every = int(nice_ticks(0.0, max(self.high - self.low, 1.0), most)[1]) if self.high - self.low > most else 1
            every = max(every, 1)
            first, last = math.ceil(self.low / every) * every, math.floor(self.high)
            return [(float(e), _number(10.0**e)) for e in range(first, last + 1, every)]
        return [(v, _number(v)) for v in nice_ticks(self.low, self.high, most)]


def value_scale(arrays: list[np.ndarray], log_span: float = 100.0) -> Scale:
    """Log when (nearly) every finite value is positive and they span `log_span`x or more (grad norm, lr,
    blow-ups, losses that converge toward 0); the rare zero is drawn on the bottom edge."""
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate(finite) if finite else np.zeros(0)
    if not len(values):
        return Scale(0.0, 1.0, False)
    low, high = float(values.min()), float(values.max())
    positive = values[values > 0]
    if len(positive) >= 0.99 * len(values) and len(positive) and high / float(positive.min()) >= log_span:
        low, high = math.log10(float(positive.min())), math.log10(high)
        pad = (high - low) * 0.05
        return Scale(low - pad, high + pad, True)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        return Scale(low - pad, high + pad, False)
    pad = (high - low) * 0.05
    return Scale(low - pad, high + pad, False)


def share_of_axis(values: np.ndarray, scale: Scale) -> float:
    """How much of the axis height a series' finite values cover (0–1): tells when a line is squashed flat."""
    finite = values[np.isfinite(values)]
    if not len(finite) or scale.high <= scale.low:
        return 0.0
    axis = scale.transform(finite)
    return float((axis.max() - axis.min()) / (scale.high - scale.low))


def nice_ticks(low: float, high: float, most: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    count = int((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.4g}"


def _step_label(value: float) -> str:
    """Step ticks: 2500, 25k, 1.5M: short enough for four ticks on a phone."""
    for size, suffix in ((1e6, "M"), (1e4, "k")):
        if abs(value) >= size:
            return f"{value / (size if suffix == 'M' else 1e3):.4g}{suffix}"
    return str(int(value))


@dataclass(frozen=True)
class Line:
    label: str
    steps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Span:
    """A finding's step span, shaded on every chart and labeled with its number and pattern."""

    number: int
    pattern: str
    severity: str
    start: int
    end: int


def _path(xs: np.ndarray, ys: np.ndarray, breaks: np.ndarray) -> str:
    if not len(xs):
        return ""
    commands = np.where(breaks, "M", "L")
    commands[0] = "M"
    # %-formatting through map: a third faster than an f-string per point (bench_report.py)
    return "".join(map("%s%.1f %.1f".__mod__, zip(commands.tolist(), xs.tolist(), ys.tolist())))


def _markers(kind: str, xs: list[float], y: float) -> str:
    """× for NaN at the top edge, ▲ for +Inf at the top, ▼ for -Inf at the bottom: shape, not colour only."""
    if kind == "nan":
        return "".join(f"M{x - 4:.1f} {y - 4:.1f}l8 8m0 -8l-8 8" for x in xs)
    if kind == "posinf":
        return "".join(f"M{x:.1f} {y - 5:.1f}l5 8h-10z" for x in xs)
    return "".join(f"M{x:.1f} {y + 5:.1f}l5 -8h-10z" for x in xs)


def _bad_marks(p: Points, px, top: float, bottom: float) -> str:
    """A marker at each stretch's first step and a thick rule along the edge to its last step."""
    out = []
    for kind, (starts, ends) in p.bad.items():
        y = bottom - 6 if kind == "neginf" else top + 6
        x0, x1 = px(starts).tolist(), px(ends).tolist()
        out.append(_markers(kind, x0, y))
        out.append("".join(f"M{a:.1f} {y:.1f}H{b:.1f}" for a, b in zip(x0, x1) if b - a > 4))
    return "".join(out)


def _bad_path(p: Points, px, top: float, bottom: float, label: str) -> str:
    """The NaN/Inf marks of one line with a tooltip naming them and their first step ('' when none)."""
    marks = _bad_marks(p, px, top, bottom)
    if not marks:
        return ""
    kinds = ", ".join(WORD[k] for k, (starts, _) in p.bad.items() if len(starts))
    first = min(int(starts[0]) for starts, _ in p.bad.values() if len(starts))
    return f'<path d="{marks}" class="bad"><title>{label}: {kinds} from step {first}</title></path>'


@dataclass(frozen=True)
class Frame:
    """One chart size: its viewBox, margins and how much it shows. Text sizes come from the CSS class."""

    name: str
    width: int
    height: int
    left: int
    font: float  # the CSS font size of tick and legend text in this frame, for layout estimates
    x_ticks: int
    buckets: int


# WIDE is drawn at up to 1:1 on screens >= 720 px and in print (font 13 user units stays >= 9 px down to
# 0.69x); NARROW replaces it below 720 px, where a 400-unit viewBox keeps 11-unit text near 1:1
WIDE = Frame("wide", 980, 230, 66, 13.0, 8, 400)
NARROW = Frame("narrow", 400, 230, 50, 11.0, 4, 200)
SMALL = Frame("small", 320, 176, 50, 11.0, 4, 120)


def _text_width(text: str, font: float) -> float:
    return 0.6 * font * len(text)  # a generous average glyph width of sans-serif text


def line_chart(title: str, lines: list[Line], x_range: tuple[int, int], spans: list[Span] = (),
               width: int | None = None, height: int | None = None, buckets: int | None = None,
               scale: Scale | None = None, legend: bool = True, frame: Frame = WIDE, x_title: str = "step",
               link_spans: bool = False) -> str:
    """One panel of the shared step axis: lines, NaN/Inf markers, shaded finding spans, axes, legend.

    Pass `scale` to share the value axis between small multiples; `link_spans` makes each span label a
    link to its finding (#finding-N) in the same page.
    """
    frame = Frame(frame.name, width or frame.width, height or frame.height, frame.left, frame.font, frame.x_ticks,
                  buckets or frame.buckets)
    width, height, left, font = frame.width, frame.height, frame.left, frame.font
    points = [downsample(line.steps, line.values, frame.buckets) for line in lines]
    scale = scale or value_scale([p.values for p in points])
    label = escape(title)
    heading = f"{title}{' (log scale)' if scale.log else ''}"
    # the legend flows after the title, wrapping onto further rows when the width runs out
    entries, rows, x, row = [], 0, 8 + _text_width(heading, font + 1) + 16, 0
    for index, line in enumerate(lines if legend else []):
        w = 30 + _text_width(line.label, font)
        if x + w > width - 8 and x > 8:
            row, x = row + 1, 8
        entries.append((index, x, row))
        x += w + 12
    rows = row + 1
    line_h = font + 6
    top = int(8 + line_h * rows + 6)
    bottom = int(2 * line_h + 8)
    right = 12
    plot_w, plot_h = width - left - right, height - top - bottom
    if plot_h < 60:  # many legend rows: grow the chart, never squash the plot
        height, plot_h = height + 60 - plot_h, 60
    x0, x1 = x_range
    x_span = max(x1 - x0, 1)

    def px(steps):
        return left + (np.asarray(steps, dtype=np.float64) - x0) / x_span * plot_w

    def py(values):
        axis = scale.transform(np.asarray(values, dtype=np.float64))
        return top + plot_h - (axis - scale.low) / (scale.high - scale.low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line {frame.name}" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>',
           f'<text x="8" y="{8 + font:.0f}" class="ct">{escape(heading)}</text>']
    for index, lx, lrow in entries:
        y = 8 + lrow * line_h + font
        out.append(f'<path d="M{lx:.0f} {y - font / 3:.0f}h24" stroke="{COLOURS[index % 7]}" stroke-width="2.5" '
                   f'stroke-dasharray="{DASHES[index % 7]}"/><text x="{lx + 28:.0f}" y="{y:.0f}" class="lg">'
                   f'{escape(lines[index].label)}</text>')
    labels = []
    for span in spans:
        start, end = px(min(max(span.start, x0), x1)), px(max(min(span.end, x1), x0))
        w = max(end - start, 2.0)
        fill = SPAN_FILL.get(span.severity, SPAN_FILL["info"])
        out.append(f'<g class="span"><title>{escape(f"{span.number} {span.pattern}")}: steps {span.start}–{span.end}'
                   f'</title><rect x="{start:.1f}" y="{top}" width="{w:.1f}" height="{plot_h}" fill="{fill}" '
                   f'fill-opacity="0.14"/><path d="M{start:.1f} {top}v{plot_h}" stroke="{fill}" stroke-dasharray="3 2"/></g>')
        labels.append((start, span))
    for value, text in scale.ticks():
        y = float(py(10**value if scale.log else value))
        out.append(f'<path d="M{left} {y:.1f}h{plot_w}" class="grid"/>'
                   f'<text x="{left - 5}" y="{y + font / 3:.1f}" class="yt">{escape(text)}</text>')
    for value in nice_ticks(x0, x1, frame.x_ticks):
        out.append(f'<text x="{float(px(value)):.1f}" y="{top + plot_h + line_h:.0f}" class="xt">{_step_label(value)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 2 * line_h + 2:.0f}" class="at">{escape(x_title)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    for index, p in enumerate(points):
        d = _path(px(p.steps), py(p.values), p.breaks)
        if d:
            out.append(f'<path d="{d}" class="ln" stroke="{COLOURS[index % 7]}" stroke-dasharray="{DASHES[index % 7]}"/>')
        out.append(_bad_path(p, px, top, top + plot_h, escape(lines[index].label)))
    out.append(_span_labels(labels, top, font, left + plot_w, link_spans))
    out.append("</svg>")
    return "".join(out)


def _span_labels(labels: list[tuple[float, Span]], top: float, font: float, right_edge: float, link: bool) -> str:
    """Span labels last, so they sit above the lines (with a white halo); staggered when they would collide."""
    out, ends = [], []
    for x, span in sorted(labels, key=lambda item: item[0]):
        text = f"{span.number} {span.pattern}"
        w = _text_width(text, font)
        x = min(x + 3, right_edge - w - 2)
        row = next((r for r, end in enumerate(ends) if end < x), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = x + w + 6
        label = f'<text x="{x:.1f}" y="{top + 4 + font + row * (font + 4):.1f}" class="sl">{escape(text)}</text>'
        out.append(f'<a href="#finding-{span.number}">{label}</a>' if link else label)
    return "".join(out)


def sparkline(steps: np.ndarray, values: np.ndarray, width: int = 120, height: int = 28) -> str:
    """A tiny axis-less line for the digest; non-finite points drawn as × along the top edge."""
    p = downsample(steps, values, buckets=width // 2)
    scale = value_scale([p.values])
    x0, x1 = (float(steps[0]), float(steps[-1])) if len(steps) else (0.0, 1.0)
    xs = 2 + (p.steps - x0) / max(x1 - x0, 1.0) * (width - 4)
    ys = 4 + (height - 8) - (scale.transform(p.values) - scale.low) / (scale.high - scale.low) * (height - 8)
    marks = _bad_marks(p, lambda s: 2 + (np.asarray(s, dtype=np.float64) - x0) / max(x1 - x0, 1.0) * (width - 4), 0, height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="train loss sparkline">'
            + (f'<path d="{_path(xs, ys, p.breaks)}" class="ln" stroke="{COLOURS[0]}"/>' if len(xs) else "")
            + (f'<path d="{marks}" class="bad"/>' if marks else "") + "</svg>")


# bar and noise charts are 400 units wide: shown at >= 340 px inside a section on a 400 px phone, their 11-unit text stays >= 9 px
def bar_chart(rows: list[tuple[str, float, str]], width: int = 400, bar_h: int = 18) -> str:
    """Horizontal bars (label, value in [0, max], value text); for the importance view."""
    left = 150
    finite = [v for _, v, _ in rows if math.isfinite(v)]
    top_value = max([v for v in finite if v > 0], default=1.0)
    height = bar_h * len(rows) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="importance"><title>importance</title>']
    for index, (label, value, text) in enumerate(rows):
        y = 4 + index * bar_h
        w = max(value, 0.0) / top_value * (width - left - 120) if math.isfinite(value) else 0.0
        out.append(f'<text x="{left - 6}" y="{y + 13}" class="yt">{escape(_clip(label, 22))}</text>'
                   f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 5}" fill="{COLOURS[0]}"/>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 13}" class="lg">{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def noise_chart(rows: list[tuple[str, float, float]], band: tuple[float, float] | None, width: int = 400) -> str:
    """Outcome mean ± std per value as a dot and whisker, over the seed-noise band (shaded)."""
    left, right, row_h = 150, 16, 22
    height = row_h * len(rows) + 26
    ends = [m - s for _, m, s in rows] + [m + s for _, m, s in rows] + (list(band) if band else [])
    ends = [e for e in ends if math.isfinite(e)]
    low, high = (min(ends), max(ends)) if ends else (0.0, 1.0)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad

    def px(v):
        return left + (v - low) / (high - low) * (width - left - right)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="outcome by value"><title>outcome by value</title>']
    if band and all(math.isfinite(b) for b in band):
        out.append(f'<rect x="{px(band[0]):.1f}" y="2" width="{max(px(band[1]) - px(band[0]), 1):.1f}" '
                   f'height="{height - 24}" class="band"><title>seed noise band</title></rect>')
    for index, (label, mean, std) in enumerate(rows):
        y = 12 + index * row_h
        out.append(f'<text x="{left - 8}" y="{y + 4}" class="yt">{escape(_clip(label, 22))}</text>')
        if not math.isfinite(mean):
            out.append(f'<text x="{left + 4}" y="{y + 4}" class="lg">no finite outcome</text>')
            continue
        std = std if math.isfinite(std) else 0.0
        out.append(f'<path d="M{px(mean - std):.1f} {y}H{px(mean + std):.1f}M{px(mean - std):.1f} {y - 4}v8'
                   f'M{px(mean + std):.1f} {y - 4}v8" class="whisker"/><circle cx="{px(mean):.1f}" cy="{y}" r="4" '
                   f'fill="{COLOURS[0]}"/>')
    for value in nice_ticks(low, high, 5):
        out.append(f'<text x="{px(value):.1f}" y="{height - 6}" class="xt">{escape(_number(value))}</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def lr_loss_chart(lines: list[Line], marks: list[tuple[float, str]], scale: Scale | None = None, width: int = 980,
                  height: int = 240, frame: str = "") -> str:
    """An LR range test: loss against lr on a log-x axis (`Line.steps` holds the lrs), each (lr, label) mark a
    labeled vertical rule. Pass `scale` to clip the blow-up at the end, so the descent stays readable."""
    # a narrow drawing (phones) puts the legend on its own row under the title
    left, right, top, bottom = 58, 12, 30 if width >= 600 else 44, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    lrs = np.concatenate([np.asarray(line.steps, dtype=np.float64) for line in lines]) if lines else np.ones(1)
    lrs = lrs[np.isfinite(lrs) & (lrs > 0)]
    x_scale = Scale(*(np.log10([lrs.min(), lrs.max()]).tolist() if len(lrs) else (0.0, 1.0)), True)
    y_scale = scale or value_scale([line.values for line in lines])
    x_span = max(x_scale.high - x_scale.low, 1e-12)

    def px(values):
        return left + (np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-300)) - x_scale.low) / x_span * plot_w

    def py(values):
        axis = np.clip(y_scale.transform(np.asarray(values, dtype=np.float64)), y_scale.low, y_scale.high)
        return top + plot_h - (axis - y_scale.low) / (y_scale.high - y_scale.low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line lr-range{" " + frame if frame else ""}" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="loss vs learning rate">'
           f'<title>loss vs learning rate</title><text x="{left}" y="13" class="ct">loss vs learning rate (log lr axis'
           f'{", log loss axis" if y_scale.log else ""})</text>']
    for value, text in y_scale.ticks():
        y = float(py(10**value if y_scale.log else value))
        out.append(f'<path d="M{left} {y:.1f}h{plot_w}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 3:.1f}" class="yt">{escape(text)}</text>')
    for value, text in x_scale.ticks(8 if width >= 600 else 4):
        out.append(f'<text x="{float(px(10**value)):.1f}" y="{height - 8}" class="xt">{escape(text)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    legend_x, legend_y = width - right, 13 if width >= 600 else 29
    for index in reversed(range(len(lines))):
        line, colour = lines[index], COLOURS[index % 7]
        keep = np.isfinite(line.values) & (np.asarray(line.steps) > 0)
        d = _path(px(line.steps[keep]), py(line.values[keep]), np.zeros(int(keep.sum()), dtype=bool))
        legend_x -= 34 + 6.2 * len(line.label)
        out.append(f'<path d="{d}" class="ln" stroke="{colour}" stroke-dasharray="{DASHES[index % 7]}"/>'
                   f'<path d="M{legend_x:.0f} {legend_y - 4}h22" stroke="{colour}" stroke-width="2.5" '
                   f'stroke-dasharray="{DASHES[index % 7]}"/>'
                   f'<text x="{legend_x + 26:.0f}" y="{legend_y}" class="lg">{escape(line.label)}</text>')
    for index, (lr, label) in enumerate(marks):
        x = float(px(lr))
        anchor = f'x="{x - 3:.1f}" text-anchor="end"' if x > left + 0.8 * plot_w else f'x="{x + 3:.1f}"'
        out.append(f'<g class="mark"><title>{escape(label)}</title><path d="M{x:.1f} {top}v{plot_h}" '
                   f'stroke="{COLOURS[5]}" stroke-dasharray="3 2"/>'
                   f'<text {anchor} y="{top + 12 + 12 * index}" class="sl">{escape(label)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def overlay_chart(title: str, groups: list[tuple[str, list[tuple[Line, bool]]]], x_range: tuple[int, int],
                  width: int = 980, height: int = 240, buckets: int = 200, frame: str = "") -> str:
    """Every value of one param on one axis: a colour per value (legend), a thin line per run (its seeds).
    The axis comes from the runs that did not diverge (the bool), so a blow-up cannot flatten the others:
    a diverged run is dashed, clipped to the axis and marked ▲ where it leaves it (× where it turns NaN).
    A narrow drawing (phones) puts the legend on its own row under the title."""
    left, right, top, bottom = 58, 12, 30 if width >= 600 else 44, 24
    legend_y = 13 if width >= 600 else 29
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, x1 = x_range
    drawn = [[(line, downsample(line.steps, line.values, buckets), diverged) for line, diverged in lines]
             for _, lines in groups]
    kept = [p.values for group in drawn for _, p, diverged in group if not diverged]
    scale = value_scale(kept or [p.values for group in drawn for _, p, _ in group])

    def px(steps):
        return left + (np.asarray(steps, dtype=np.float64) - x0) / max(x1 - x0, 1) * plot_w

    def axis(values):
        return np.clip(scale.transform(np.asarray(values, dtype=np.float64)), scale.low, scale.high)

    def py(values):
        return top + plot_h - (axis(values) - scale.low) / (scale.high - scale.low) * plot_h

    label = escape(title)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line overlay{" " + frame if frame else ""}" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>',
           f'<text x="{left}" y="13" class="ct">{label}{" (log scale)" if scale.log else ""}</text>']
    out += [f'<path d="M{left} {py(10**v if scale.log else v):.1f}h{plot_w}" class="grid"/><text x="{left - 4}" '
            f'y="{py(10**v if scale.log else v) + 3:.1f}" class="yt">{escape(text)}</text>' for v, text in scale.ticks()]
    out += [f'<text x="{px(v):.1f}" y="{height - 8}" class="xt">{int(v)}</text>'
            for v in nice_ticks(x0, x1, 8 if width >= 600 else 4)]
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    legend_x = width - right
    for index in reversed(range(len(groups))):
        legend_x -= 34 + 6.2 * len(groups[index][0])
        out.append(f'<path d="M{legend_x:.0f} {legend_y - 4}h22" stroke="{COLOURS[index % 7]}" stroke-width="2.5"/>'
                   f'<text x="{legend_x + 26:.0f}" y="{legend_y}" class="lg">{escape(groups[index][0])}</text>')
    for index, group in enumerate(drawn):
        for line, p, diverged in group:
            name = escape(line.label)
            d = _path(px(p.steps), py(p.values), p.breaks)
            if d:
                out.append(f'<path d="{d}" class="ln thin" stroke="{COLOURS[index % 7]}" '
                           f'stroke-dasharray="{"4 2" if diverged else ""}"><title>{name}</title></path>')
            outside = scale.transform(p.values) > scale.high
            if outside.any():
                step = int(p.steps[np.argmax(outside)])
                out.append(f'<path d="{_markers("posinf", [float(px(step))], top + 6)}" class="bad clipped">'
                           f'<title>{name}: above the axis from step {step} (diverged; clipped)</title></path>')
            out.append(_bad_path(p, px, top, top + plot_h, name))
    out.append("</svg>")
    return "".join(out)
