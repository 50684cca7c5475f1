"""The modules, grouped by kind: one array (``simple``), tables (``table``), cutting and
reshaping (``shape``), losses (``criterion``)."""

from .criterion import ClassNLLCriterion, Criterion, ModuleFromCriterion
from .shape import Narrow, Reshape
from .simple import Dropout, Identity, Linear, LogSoftMax, LookupTable, OneHot, ReLU, Sigmoid, Tanh
from .table import CAddTable, CMulTable, CSubTable, JoinTable, SelectTable, SplitTable
