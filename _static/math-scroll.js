/* An inline formula wider than its line scrolls sideways inside its own box
 * (responsive.css); on a phone nothing shows that it does. Mark each such
 * formula with the side(s) on which more of it lies (more-right, more-left),
 * so that responsive.css can shade that edge. Re-marked after MathJax has
 * typeset the page, on resize, and as the reader scrolls the formula. */
(function () {
  "use strict";
  function mark(box) {
    // the width of the typeset formula itself: the box's scrollWidth also
    // counts a few invisible pixels (MathJax's assistive markup, overhangs)
    var math = box.querySelector("mjx-math");
    if (!math) return;
    var hidden = math.getBoundingClientRect().width - box.clientWidth;
    box.classList.toggle("more-right", hidden > 1 && box.scrollLeft < hidden - 1);
    box.classList.toggle("more-left", hidden > 1 && box.scrollLeft > 1);
  }
  function markAll() {
    document.querySelectorAll("span.math").forEach(mark);
  }
  document.addEventListener("scroll", function (event) {
    var box = event.target;
    if (box instanceof Element && box.matches("span.math")) mark(box);
  }, true);
  window.addEventListener("resize", markAll);
  window.addEventListener("load", function () {
    markAll();
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(markAll);
  });
})();
