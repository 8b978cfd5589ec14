// Package stats summarises repeated timing samples and decides how many
// repetitions a measurement needs.
//
// Conventions, fixed here so that every measurement in the database means the
// same thing:
//
//   - Percentiles use linear interpolation between closest ranks (Hyndman and
//     Fan's type 7, the default of R, NumPy and spreadsheet PERCENTILE.INC):
//     for sorted samples x[0..n-1] and p in [0,1], h = (n-1)·p and
//     P(p) = x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋]). The median is P(0.5), which
//     equals the usual middle value (or mean of the two middle values).
//   - The standard deviation is the sample standard deviation (divisor n-1);
//     it is 0 for a single sample.
//   - RelIQR = (P75-P25)/|median| and RelMAD = MAD/|median|, where MAD is the
//     median absolute deviation from the median (unscaled). Both describe the
//     spread of the samples and do not shrink as repetitions are added.
//   - RelMedianErr, the "relative spread of the median" that the repetition
//     controller tests, estimates the relative standard error of the median
//     without resampling: 1.2533·σ̂/√n/|median|, with the robust scale
//     σ̂ = 1.4826·MAD. The factor 1.4826 makes the MAD a consistent estimate
//     of σ for normal noise and 1.2533 = √(π/2) is the asymptotic ratio of the
//     median's standard error to the mean's. Unlike RelIQR and RelMAD it
//     shrinks as 1/√n, so more repetitions make it smaller when, and only
//     when, they make the median more precise; outliers (a preempted run) move
//     it little because it is built on the MAD.
//
// Every value in a Summary is finite, so it always encodes as JSON: samples
// must be finite, and when the median is 0 the relative measures are reported
// as 0 (the controller never treats such a series as converged).
package stats
