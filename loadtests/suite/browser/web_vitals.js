// Glue between Google's web-vitals library and the browser driver (loadtests/suite/browser/driver.py).
//
// The driver injects the library's IIFE build (which defines `webVitals`; fetched and verified by
// scripts/setup.sh) followed by this script, as one init script that runs before any page script
// (Playwright add_init_script). The metric definitions are the library's: onLCP, onCLS and onINP with
// reportAllChanges, so every new value reaches this script as it happens, and the final ones are
// reported when the page is hidden at the end of the visit. This script only keeps what the
// driver needs:
//  - the latest reported value of each metric, and its element (LCP) or shifts (CLS);
//  - quietForMs(): how long the page has shown no change (DOM mutation, LCP candidate, layout
//    shift), so the driver interacts only once the page has rendered;
//  - reported(name) and collect(): what the library has reported so far, the navigation timing
//    of the document request, and, per metric it has not reported, a reason the driver names.
(() => {
  if (window.__odavlVitals) {
    return;
  }
  const library = typeof webVitals !== "undefined" ? webVitals : window.webVitals;
  const supported = (typeof PerformanceObserver !== "undefined" && PerformanceObserver.supportedEntryTypes) || [];
  // The event-timing threshold the browser is asked for: 16 ms, the smallest it allows (the
  // library's default is 40 ms). Where the browser has it, the library also observes the entry of
  // the page's first interaction, which is reported whatever its duration, so a quick click still
  // yields an INP value.
  const EVENT_DURATION_THRESHOLD_MS = 16;

  const state = {
    lcp: null,
    lcpElement: null,
    lcpSize: null,
    cls: null,
    clsShifts: 0,
    inp: null,
    // Last time the page changed what it shows (DOM mutation, LCP candidate, layout shift).
    lastActivity: 0,
  };

  function noteActivity() {
    state.lastActivity = performance.now();
  }

  function describeElement(element) {
    if (!element || !element.tagName) {
      return null;
    }
    let name = element.tagName.toLowerCase();
    if (element.id) {
      name += "#" + element.id;
    }
    return name;
  }

  function lastEntry(metric) {
    return metric.entries.length > 0 ? metric.entries[metric.entries.length - 1] : null;
  }

  if (library) {
    library.onLCP(
      (metric) => {
        noteActivity();
        const entry = lastEntry(metric);
        state.lcp = metric.value;
        state.lcpElement = entry ? describeElement(entry.element) : null;
        state.lcpSize = entry ? entry.size : null;
      },
      { reportAllChanges: true },
    );
    library.onCLS(
      (metric) => {
        if (metric.value !== state.cls) {
          noteActivity();
        }
        state.cls = metric.value;
        state.clsShifts = metric.entries.length;
      },
      { reportAllChanges: true },
    );
    library.onINP(
      (metric) => {
        state.inp = metric.value;
      },
      { reportAllChanges: true, durationThreshold: EVENT_DURATION_THRESHOLD_MS },
    );
  }

  new MutationObserver(noteActivity).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });

  function interactionCount() {
    return "interactionCount" in performance ? performance.interactionCount : null;
  }

  function eventTimingSupported() {
    return (
      typeof PerformanceEventTiming !== "undefined" && "interactionId" in PerformanceEventTiming.prototype
    );
  }

  // Why a metric has no value, in words the driver puts after "Chromium VERSION ...".
  function unreportedReasons() {
    const reasons = {};
    if (!library) {
      const text = "has no web-vitals library in the page (webVitals is not defined)";
      return { LCP: text, CLS: text, INP: text };
    }
    if (state.lcp === null) {
      reasons.LCP = supported.includes("largest-contentful-paint")
        ? "reported no largest-contentful-paint candidate before the interaction"
        : "does not support the largest-contentful-paint performance entry type";
    }
    if (state.cls === null) {
      reasons.CLS = !supported.includes("layout-shift")
        ? "does not support the layout-shift performance entry type"
        : "reported no first contentful paint, which CLS waits for";
    }
    if (state.inp === null) {
      const count = interactionCount();
      if (!eventTimingSupported() || !supported.includes("event")) {
        reasons.INP = "does not support Event Timing with interaction ids";
      } else if (count === 0) {
        reasons.INP = "counted no interaction for the click";
      } else {
        reasons.INP =
          "counted " +
          (count === null ? "the" : count) +
          " interaction(s) but reported no event-timing entry for them";
      }
    }
    return reasons;
  }

  function navigationTimings() {
    const navigation = performance.getEntriesByType("navigation")[0];
    if (!navigation) {
      return null;
    }
    // The document request as the browser timed it, from fetchStart (so a fresh connection's
    // set-up counts, as it does for any client) to the first and the last byte.
    return {
      document_ms: navigation.responseEnd - navigation.fetchStart,
      ttfb_ms: navigation.responseStart - navigation.fetchStart,
      dom_content_loaded_ms: navigation.domContentLoadedEventEnd,
      load_ms: navigation.loadEventEnd,
      transfer_bytes: navigation.transferSize,
    };
  }

  window.__odavlVitals = {
    quietForMs() {
      return performance.now() - state.lastActivity;
    },
    reported(name) {
      const values = { LCP: state.lcp, CLS: state.cls, INP: state.inp };
      return values[name] !== null && values[name] !== undefined;
    },
    collect() {
      return {
        lcp_ms: state.lcp,
        lcp_element: state.lcpElement,
        lcp_size: state.lcpSize,
        cls: state.cls,
        layout_shifts: state.clsShifts,
        inp_ms: state.inp,
        interactions: interactionCount(),
        navigation: navigationTimings(),
        unreported: unreportedReasons(),
        supported: supported.slice(),
      };
    },
  };
})();
