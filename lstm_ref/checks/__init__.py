"""What the exercise notebooks' test cells call.

Each check function tests one thing (a shape, the values of an output, one gradient), so
that nbgrader's partial credit is per check. It builds random inputs from a seed, runs the
learner's function and the reference, and raises ``AssertionError`` with a message that says
what is wrong (a shape, a gate, the sign of a gradient) without printing expected numbers.
Visible test cells use the default seeds; hidden ones pass other seeds and shapes.

Checks never print to stderr: nbgrader scores any stderr output as a failure.
"""
