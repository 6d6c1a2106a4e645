"""The pages: one module, or one package when a page needs more than one file. Pages never
import each other; what they share lives in gui/widgets."""
