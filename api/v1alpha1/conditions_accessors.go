package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GetConditions returns the pipeline's conditions for the status helpers.
func (p *TwitterPipeline) GetConditions() *[]metav1.Condition { return &p.Status.Conditions }

// GetConditions returns the dashboard's conditions for the status helpers.
func (d *LiveDashboard) GetConditions() *[]metav1.Condition { return &d.Status.Conditions }
