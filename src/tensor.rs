//! What `step` accepts: one tensor, or a list of tensors of any ranks, owned or borrowed.
//!
//! [`Optimizer::step`](crate::Optimizer::step) takes `&mut dyn TensorListMut<A>` and
//! `&dyn TensorList<A>`, so a call site passes its own containers and Rust coerces them:
//!
//! | you have | you pass |
//! |---|---|
//! | one array or view of any dimension (`Array2<f32>`, `ArrayViewMut1<f64>`, `ArrayD`, …) | `&mut w`, `&g` |
//! | a `Vec`, array or slice of arrays or views | `&mut params`, `&grads` |
//! | tensors of different ranks (a weight matrix beside a bias vector) | a tuple of references: `&mut (&mut w, &mut b)`, `&(&gw, &gb)` |
//! | views into one large flat buffer | a `Vec<ArrayViewMut<…>>` of the views |
//! | your own model struct | implement [`TensorListMut`] for it (see its docs) |
//!
//! Nothing is copied: the optimizer reads and writes the caller's memory in place. Contiguous
//! tensors (C-order, Fortran-order or any other axis order) take the fast path, one linear
//! vectorised loop; strided views (every other column, negative strides) give the same results
//! through a general loop that is slower.

use ndarray::{
    ArrayBase, ArrayRef, ArrayViewD, ArrayViewMutD, Data, DataMut, Dimension, LayoutRef,
};

/// Read access to one tensor of any dimension: a gradient, or a parameter being inspected.
///
/// Implemented for every ndarray array and view (`ArrayBase<S, D>` with readable data), for
/// `ArrayRef`, and for references to any implementor. Users rarely implement it themselves.
///
/// # Example
///
/// ```
/// use ndarray::Array2;
/// use ndarray_optim::Tensor;
///
/// let g = Array2::<f32>::zeros((2, 3));
/// let t: &dyn Tensor<f32> = &g;
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.as_slice_memory_order().map(<[f32]>::len), Some(6));
/// ```
pub trait Tensor<A>: Send + Sync {
    /// The tensor's shape.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array3;
    /// use ndarray_optim::Tensor;
    ///
    /// let g = Array3::<f32>::zeros((2, 3, 4));
    /// assert_eq!(Tensor::shape(&g), &[2, 3, 4]);
    /// ```
    fn shape(&self) -> &[usize];
    /// The tensor's strides, in elements (as [`ndarray::ArrayBase::strides`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array2, ShapeBuilder};
    /// use ndarray_optim::Tensor;
    ///
    /// let c = Array2::<f32>::zeros((2, 3));
    /// let f = Array2::<f32>::zeros((2, 3).f()); // Fortran (column-major) order
    /// assert_eq!(Tensor::strides(&c), &[3, 1]);
    /// assert_eq!(Tensor::strides(&f), &[1, 2]);
    /// ```
    fn strides(&self) -> &[isize];
    /// The elements as one slice in memory order, when the tensor is contiguous.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, s};
    /// use ndarray_optim::Tensor;
    ///
    /// let g = array![[1.0_f32, 2.0], [3.0, 4.0]];
    /// assert_eq!(Tensor::as_slice_memory_order(&g), Some(&[1.0, 2.0, 3.0, 4.0][..]));
    /// let column = g.slice(s![.., 0]); // strided: not one slice
    /// assert_eq!(Tensor::as_slice_memory_order(&column), None);
    /// ```
    fn as_slice_memory_order(&self) -> Option<&[A]>;
    /// A dynamic-dimensional view of the tensor.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::Tensor;
    ///
    /// let g = array![[1.0_f32, 2.0], [3.0, 4.0]];
    /// let t: &dyn Tensor<f32> = &g;
    /// let view = t.view_dyn();
    /// assert_eq!((view.ndim(), view[[1, 0]]), (2, 3.0));
    /// ```
    fn view_dyn(&self) -> ArrayViewD<'_, A>;
}

/// Write access to one tensor of any dimension: a parameter that `step` updates in place.
///
/// Implemented for every ndarray array and view with writable data and for mutable references
/// to implementors.
///
/// # Example
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::TensorMut;
///
/// let mut w: Array1<f64> = array![1.0, 2.0];
/// let t: &mut dyn TensorMut<f64> = &mut w;
/// t.as_slice_memory_order_mut().unwrap()[0] = 5.0;
/// assert_eq!(w, array![5.0, 2.0]);
/// ```
pub trait TensorMut<A>: Tensor<A> {
    /// The elements as one mutable slice in memory order, when the tensor is contiguous.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, s};
    /// use ndarray_optim::TensorMut;
    ///
    /// let mut w = array![[1.0_f64, 2.0], [3.0, 4.0]];
    /// TensorMut::as_slice_memory_order_mut(&mut w).unwrap()[3] = 0.0;
    /// assert_eq!(w[[1, 1]], 0.0);
    /// let mut column = w.slice_mut(s![.., 1]); // strided: not one slice
    /// assert!(TensorMut::as_slice_memory_order_mut(&mut column).is_none());
    /// ```
    fn as_slice_memory_order_mut(&mut self) -> Option<&mut [A]>;
    /// A dynamic-dimensional mutable view of the tensor.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, s};
    /// use ndarray_optim::TensorMut;
    ///
    /// let mut w = array![[1.0_f64, 2.0], [3.0, 4.0]];
    /// let mut column = w.slice_mut(s![.., 1]);
    /// let t: &mut dyn TensorMut<f64> = &mut column;
    /// t.view_dyn_mut().fill(0.0); // any layout
    /// assert_eq!(w, array![[1.0, 0.0], [3.0, 0.0]]);
    /// ```
    fn view_dyn_mut(&mut self) -> ArrayViewMutD<'_, A>;
}

impl<A: Send + Sync, D: Dimension> Tensor<A> for ArrayRef<A, D> {
    fn shape(&self) -> &[usize] {
        LayoutRef::shape(self)
    }
    fn strides(&self) -> &[isize] {
        LayoutRef::strides(self)
    }
    fn as_slice_memory_order(&self) -> Option<&[A]> {
        ArrayRef::as_slice_memory_order(self)
    }
    fn view_dyn(&self) -> ArrayViewD<'_, A> {
        ArrayRef::view(self).into_dyn()
    }
}

impl<A: Send + Sync, D: Dimension> TensorMut<A> for ArrayRef<A, D> {
    fn as_slice_memory_order_mut(&mut self) -> Option<&mut [A]> {
        ArrayRef::as_slice_memory_order_mut(self)
    }
    fn view_dyn_mut(&mut self) -> ArrayViewMutD<'_, A> {
        ArrayRef::view_mut(self).into_dyn()
    }
}

impl<A: Send + Sync, S: Data<Elem = A> + Send + Sync, D: Dimension> Tensor<A> for ArrayBase<S, D> {
    fn shape(&self) -> &[usize] {
        Tensor::shape(&**self)
    }
    fn strides(&self) -> &[isize] {
        Tensor::strides(&**self)
    }
    fn as_slice_memory_order(&self) -> Option<&[A]> {
        Tensor::as_slice_memory_order(&**self)
    }
    fn view_dyn(&self) -> ArrayViewD<'_, A> {
        Tensor::view_dyn(&**self)
    }
}

impl<A: Send + Sync, S: DataMut<Elem = A> + Send + Sync, D: Dimension> TensorMut<A>
    for ArrayBase<S, D>
{
    fn as_slice_memory_order_mut(&mut self) -> Option<&mut [A]> {
        TensorMut::as_slice_memory_order_mut(&mut **self)
    }
    fn view_dyn_mut(&mut self) -> ArrayViewMutD<'_, A> {
        TensorMut::view_dyn_mut(&mut **self)
    }
}

macro_rules! forward_tensor_through_reference {
    ($($reference:ty),*) => {$(
        impl<A, T: Tensor<A> + ?Sized> Tensor<A> for $reference {
            fn shape(&self) -> &[usize] {
                (**self).shape()
            }
            fn strides(&self) -> &[isize] {
                (**self).strides()
            }
            fn as_slice_memory_order(&self) -> Option<&[A]> {
                (**self).as_slice_memory_order()
            }
            fn view_dyn(&self) -> ArrayViewD<'_, A> {
                (**self).view_dyn()
            }
        }
    )*};
}
forward_tensor_through_reference!(&T, &mut T, Box<T>);

impl<A, T: TensorMut<A> + ?Sized> TensorMut<A> for &mut T {
    fn as_slice_memory_order_mut(&mut self) -> Option<&mut [A]> {
        (**self).as_slice_memory_order_mut()
    }
    fn view_dyn_mut(&mut self) -> ArrayViewMutD<'_, A> {
        (**self).view_dyn_mut()
    }
}

impl<A, T: TensorMut<A> + ?Sized> TensorMut<A> for Box<T> {
    fn as_slice_memory_order_mut(&mut self) -> Option<&mut [A]> {
        (**self).as_slice_memory_order_mut()
    }
    fn view_dyn_mut(&mut self) -> ArrayViewMutD<'_, A> {
        (**self).view_dyn_mut()
    }
}

/// An ordered list of tensors to read: the gradients given to `step`.
///
/// The position of a tensor in the list is its identity: the optimizer keeps its state for the
/// tensor at position `i` and expects the same shape there on every step.
///
/// Implemented for a single array or view (a list of one), for `Vec`s, arrays and slices of
/// tensors, for tuples of up to 12 tensors (which may have different ranks), and for references
/// to any of these.
///
/// # Example
///
/// A model struct can be handed to `step` directly by listing its tensors:
///
/// ```
/// use ndarray::{Array1, Array2};
/// use ndarray_optim::{Optimizer, Sgd, Tensor, TensorList, TensorListMut, TensorMut};
///
/// struct Linear { w: Array2<f32>, b: Array1<f32> }
///
/// impl TensorList<f32> for Linear {
///     fn len(&self) -> usize { 2 }
///     fn tensor(&self, i: usize) -> Option<&dyn Tensor<f32>> {
///         match i { 0 => Some(&self.w), 1 => Some(&self.b), _ => None }
///     }
/// }
/// impl TensorListMut<f32> for Linear {
///     fn tensor_mut(&mut self, i: usize) -> Option<&mut dyn TensorMut<f32>> {
///         match i { 0 => Some(&mut self.w), 1 => Some(&mut self.b), _ => None }
///     }
/// }
///
/// let mut model = Linear { w: Array2::ones((2, 3)), b: Array1::zeros(2) };
/// let grads = Linear { w: Array2::ones((2, 3)), b: Array1::ones(2) };
/// let mut opt = Sgd::new(0.5)?;
/// opt.step(&mut model, &grads)?;
/// assert_eq!(model.w[[0, 0]], 0.5);
/// assert_eq!(model.b[1], -0.5);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait TensorList<A> {
    /// The number of tensors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::TensorList;
    ///
    /// let (w, b) = (Array2::<f32>::zeros((2, 2)), Array1::<f32>::zeros(2));
    /// assert_eq!(TensorList::len(&(&w, &b)), 2);
    /// assert_eq!(TensorList::len(&w), 1); // a single tensor is a list of one
    /// assert_eq!(TensorList::len(&vec![b.clone(); 5]), 5);
    /// ```
    fn len(&self) -> usize;
    /// The tensor at `index`, or `None` past the end.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::TensorList;
    ///
    /// let (w, b) = (Array2::<f32>::zeros((4, 2)), Array1::<f32>::zeros(2));
    /// let list = (&w, &b);
    /// assert_eq!(list.tensor(0).map(|t| t.shape()), Some(&[4, 2][..]));
    /// assert_eq!(list.tensor(1).map(|t| t.shape()), Some(&[2][..]));
    /// assert!(list.tensor(2).is_none());
    /// ```
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>>;
    /// Whether the list holds no tensors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array1;
    /// use ndarray_optim::TensorList;
    ///
    /// let none: Vec<Array1<f32>> = Vec::new();
    /// assert!(TensorList::is_empty(&none));
    /// assert!(!TensorList::is_empty(&vec![Array1::<f32>::zeros(3)]));
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether position `index` deliberately holds no tensor: a parameter without a gradient
    /// this step (PyTorch's `p.grad is None`), which the optimizer skips exactly as PyTorch
    /// does: no update, no weight decay, no state change, and its step count does not advance.
    /// [`Gradients`] reports its `None` entries; every other list holds a tensor at every
    /// position.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Gradients, TensorList};
    ///
    /// let grads = Gradients(vec![Some(array![0.5_f32]), None]); // the second tensor is frozen
    /// assert!(grads.absent(1) && !grads.absent(0));
    /// ```
    fn absent(&self, index: usize) -> bool {
        let _ = index;
        false
    }

    /// The name of the tensor at `index`, when the list knows it (a model struct made a list
    /// with [`tensor_list!`](crate::tensor_list)): recorded in the optimizer's state and checked
    /// when a saved state is loaded, and used by name-based group rules.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1};
    /// use ndarray_optim::TensorList;
    ///
    /// let plain = vec![array![1.0_f32]];
    /// assert_eq!(plain.name(0), None);
    /// ```
    fn name(&self, index: usize) -> Option<&str> {
        let _ = index;
        None
    }
}

/// An ordered list of tensors to update in place: the parameters given to `step`.
///
/// Implemented for the same containers as [`TensorList`] when their tensors are writable. See
/// [`TensorList`] for implementing it on a model struct.
///
/// # Example
///
/// ```
/// use ndarray::{array, Array1, Array2};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// // A weight matrix and a bias vector, updated in one call, without copying.
/// let mut w: Array2<f64> = array![[1.0, 2.0], [3.0, 4.0]];
/// let mut b: Array1<f64> = array![0.5, 0.5];
/// let (gw, gb) = (Array2::ones((2, 2)), array![1.0, -1.0]);
/// let mut opt = Sgd::new(0.1)?;
/// opt.step(&mut (&mut w, &mut b), &(&gw, &gb))?;
/// assert_eq!(b, array![0.4, 0.6]);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait TensorListMut<A>: TensorList<A> {
    /// The tensor at `index`, writable, or `None` past the end.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1};
    /// use ndarray_optim::TensorListMut;
    ///
    /// let mut params = vec![Array1::<f64>::zeros(2), Array1::<f64>::zeros(3)];
    /// params.tensor_mut(1).unwrap().view_dyn_mut().fill(1.0);
    /// assert_eq!(params[1], array![1.0, 1.0, 1.0]);
    /// assert!(params.tensor_mut(2).is_none());
    /// ```
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>>;

    /// All tensors at once, in order, appended to `out`, so that they can be updated on several
    /// threads (the `rayon` feature). Returns `false` if the list cannot lend them all together;
    /// then they are updated one by one. The default returns `false`; implement it for a model
    /// struct by pushing each field.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{TensorListMut, TensorMut};
    ///
    /// let mut params = vec![Array1::<f32>::zeros(3), Array1::<f32>::zeros(4)];
    /// let mut all: Vec<&mut dyn TensorMut<f32>> = Vec::new();
    /// assert!(params.tensors_mut(&mut all));
    /// assert_eq!(all[1].shape(), &[4]);
    /// ```
    fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
        let _ = out;
        false
    }
}

// A single tensor is a list of one.
impl<A: Send + Sync, S: Data<Elem = A> + Send + Sync, D: Dimension> TensorList<A>
    for ArrayBase<S, D>
{
    fn len(&self) -> usize {
        1
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        (index == 0).then_some(self as &dyn Tensor<A>)
    }
}

impl<A: Send + Sync, S: DataMut<Elem = A> + Send + Sync, D: Dimension> TensorListMut<A>
    for ArrayBase<S, D>
{
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
        (index == 0).then_some(self as &mut dyn TensorMut<A>)
    }
    fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
        out.push(self);
        true
    }
}

impl<A, T: Tensor<A>> TensorList<A> for [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        self.get(index).map(|t| t as &dyn Tensor<A>)
    }
}

impl<A, T: TensorMut<A>> TensorListMut<A> for [T] {
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
        self.get_mut(index).map(|t| t as &mut dyn TensorMut<A>)
    }
    fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
        out.extend(self.iter_mut().map(|t| t as &mut dyn TensorMut<A>));
        true
    }
}

impl<A, T: Tensor<A>> TensorList<A> for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        TensorList::tensor(self.as_slice(), index)
    }
}

impl<A, T: TensorMut<A>> TensorListMut<A> for Vec<T> {
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
        TensorListMut::tensor_mut(self.as_mut_slice(), index)
    }
    fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
        TensorListMut::tensors_mut(self.as_mut_slice(), out)
    }
}

impl<A, T: Tensor<A>, const N: usize> TensorList<A> for [T; N] {
    fn len(&self) -> usize {
        N
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        TensorList::tensor(self.as_slice(), index)
    }
}

impl<A, T: TensorMut<A>, const N: usize> TensorListMut<A> for [T; N] {
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
        TensorListMut::tensor_mut(self.as_mut_slice(), index)
    }
    fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
        TensorListMut::tensors_mut(self.as_mut_slice(), out)
    }
}

impl<A, L: TensorList<A> + ?Sized> TensorList<A> for &L {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        (**self).tensor(index)
    }
    fn absent(&self, index: usize) -> bool {
        (**self).absent(index)
    }
    fn name(&self, index: usize) -> Option<&str> {
        (**self).name(index)
    }
}

impl<A, L: TensorList<A> + ?Sized> TensorList<A> for &mut L {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        (**self).tensor(index)
    }
    fn absent(&self, index: usize) -> bool {
        (**self).absent(index)
    }
    fn name(&self, index: usize) -> Option<&str> {
        (**self).name(index)
    }
}

/// A list of gradients some of which are absent: `None` stands for a tensor without a gradient
/// this step (PyTorch's `p.grad is None`; see [`TensorList::absent`]), which the optimizer skips.
///
/// A wrapper rather than `Vec<Option<T>>` itself, which Rust's coherence rules do not let this
/// crate implement the list traits for beside `Vec<T>`.
///
/// # Example
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::{Adam, Gradients, Optimizer};
///
/// let mut params = vec![array![1.0_f32], array![2.0]];
/// let mut opt = Adam::new(0.1)?;
/// let head_only = Gradients(vec![Some(array![0.5_f32]), None]);
/// opt.step(&mut params, &head_only)?; // the second tensor is frozen: nothing changes for it
/// assert_eq!(params[1][0], 2.0);
/// opt.step(&mut params, &Gradients(vec![Some(array![0.5]), Some(array![0.5])]))?;
/// // PyTorch's per-tensor step counts: the second tensor takes its first step now.
/// assert!((params[1][0] - 1.9).abs() < 1e-6);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
///
/// For tensors of different ranks (a weight matrix and its bias), the elements are trait
/// objects:
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Adam, Gradients, Optimizer, Tensor};
///
/// let (mut w, mut b) = (array![[1.0_f32, 2.0]], array![0.5_f32]);
/// let g_w = array![[0.1_f32, 0.2]];
/// let mut opt = Adam::new(0.1)?;
/// let frozen_bias = Gradients(vec![Some(&g_w as &dyn Tensor<f32>), None]);
/// opt.step(&mut (&mut w, &mut b), &frozen_bias)?;
/// assert_eq!(b[0], 0.5);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gradients<T>(pub Vec<Option<T>>);

impl<A, T: Tensor<A>> TensorList<A> for Gradients<T> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        self.0.get(index)?.as_ref().map(|t| t as &dyn Tensor<A>)
    }
    fn absent(&self, index: usize) -> bool {
        matches!(self.0.get(index), Some(None))
    }
}

macro_rules! tuple_tensor_list {
    ($len:expr; $($name:ident $index:tt),+) => {
        impl<A, $($name: Tensor<A>),+> TensorList<A> for ($($name,)+) {
            fn len(&self) -> usize {
                $len
            }
            fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
                match index {
                    $($index => Some(&self.$index as &dyn Tensor<A>),)+
                    _ => None,
                }
            }
        }
        impl<A, $($name: TensorMut<A>),+> TensorListMut<A> for ($($name,)+) {
            fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
                match index {
                    $($index => Some(&mut self.$index as &mut dyn TensorMut<A>),)+
                    _ => None,
                }
            }
            fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<A>>) -> bool {
                $(out.push(&mut self.$index);)+
                true
            }
        }
    };
}

tuple_tensor_list!(1; T0 0);
tuple_tensor_list!(2; T0 0, T1 1);
tuple_tensor_list!(3; T0 0, T1 1, T2 2);
tuple_tensor_list!(4; T0 0, T1 1, T2 2, T3 3);
tuple_tensor_list!(5; T0 0, T1 1, T2 2, T3 3, T4 4);
tuple_tensor_list!(6; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5);
tuple_tensor_list!(7; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6);
tuple_tensor_list!(8; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7);
tuple_tensor_list!(9; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8);
tuple_tensor_list!(10; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9);
tuple_tensor_list!(11; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10);
tuple_tensor_list!(12; T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11);

/// Implements [`TensorList`] and [`TensorListMut`] for a model struct whose fields are the
/// tensors (ndarray arrays or views), in the order listed, each named by its field name or by
/// the name after `as` (PyTorch's, say, for name-based rules and checkpoints). The names are
/// recorded in the optimizer's state and checked when a saved state is loaded.
///
/// Two forms: a struct generic over the element type (`Mlp<A> { … }`, for every
/// [`Float`](crate::Float) `A`), or a struct of one element type (`Model: f32 { … }`).
///
/// # Example
///
/// ```
/// use ndarray::{Array1, Array2};
/// use ndarray_optim::{tensor_list, Adam, Float, Optimizer, TensorList};
///
/// struct Mlp<A> {
///     w1: Array2<A>,
///     b1: Array1<A>,
/// }
/// tensor_list!(Mlp<A> { w1 as "fc1.weight", b1 as "fc1.bias" });
///
/// let mut model = Mlp { w1: Array2::<f32>::ones((2, 3)), b1: Array1::zeros(3) };
/// let grads = Mlp { w1: Array2::<f32>::ones((2, 3)), b1: Array1::ones(3) };
/// assert_eq!((model.len(), model.name(1)), (2, Some("fc1.bias")));
/// let mut opt = Adam::new(1e-3)?;
/// opt.step(&mut model, &grads)?;
/// let saved = opt.save_state();
/// assert_eq!(saved.tensors[0].name.as_deref(), Some("fc1.weight"));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[macro_export]
macro_rules! tensor_list {
    ($ty:ident < $a:ident > { $($field:ident $(as $name:literal)?),+ $(,)? }) => {
        impl<$a: $crate::Float> $crate::TensorList<$a> for $ty<$a> {
            $crate::tensor_list!(@read $a; $($field $(as $name)?),+);
        }
        impl<$a: $crate::Float> $crate::TensorListMut<$a> for $ty<$a> {
            $crate::tensor_list!(@write $a; $($field),+);
        }
    };
    ($ty:ty : $elem:ty { $($field:ident $(as $name:literal)?),+ $(,)? }) => {
        impl $crate::TensorList<$elem> for $ty {
            $crate::tensor_list!(@read $elem; $($field $(as $name)?),+);
        }
        impl $crate::TensorListMut<$elem> for $ty {
            $crate::tensor_list!(@write $elem; $($field),+);
        }
    };
    (@read $a:ty; $($field:ident $(as $name:literal)?),+) => {
        fn len(&self) -> usize {
            [$(stringify!($field)),+].len()
        }
        fn tensor(&self, index: usize) -> Option<&dyn $crate::Tensor<$a>> {
            let mut at = 0;
            $(
                if index == at {
                    return Some(&self.$field as &dyn $crate::Tensor<$a>);
                }
                at += 1;
            )+
            let _ = at;
            None
        }
        fn name(&self, index: usize) -> Option<&str> {
            [$($crate::tensor_list!(@name $field $(as $name)?)),+].get(index).copied()
        }
    };
    (@write $a:ty; $($field:ident),+) => {
        fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn $crate::TensorMut<$a>> {
            let mut at = 0;
            $(
                if index == at {
                    return Some(&mut self.$field as &mut dyn $crate::TensorMut<$a>);
                }
                at += 1;
            )+
            let _ = at;
            None
        }
        fn tensors_mut<'a>(
            &'a mut self,
            out: &mut Vec<&'a mut dyn $crate::TensorMut<$a>>,
        ) -> bool {
            $(out.push(&mut self.$field);)+
            true
        }
    };
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident as $name:literal) => { $name };
}
